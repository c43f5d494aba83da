import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonFileStore } from '../../src-main/host/json-store.js';
import { startHost, type RunningHost } from '../../src-main/host/ws-host.js';

/*
 * The real renderer in Debian's Chromium, driven against the WebSocket host
 * with the real services and the shipped model: open the sample photos, edit a
 * face, run a batch, export a pair. Each screen is saved under
 * test-results/screens for people to look at.
 */

const photosDir = path.resolve(process.cwd(), '../shared/data/photos');
const celebaDir = path.resolve(process.cwd(), '../shared/data/faces/images');
/** CelebA photos with one face each, four smiling and four not: a tiny fine-tune's faces */
const finetunePhotos = [
  '000016.jpg',
  '000019.jpg',
  '000017.jpg',
  '000020.jpg',
  '000018.jpg',
  '000022.jpg',
  '000010.jpg',
  '000014.jpg',
];
const rendererDir = path.resolve('out/renderer');
const screens = path.resolve('test-results/screens');
const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

let root: string;
let host: RunningHost;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(screens, `${name}.png`) });
}

beforeAll(async () => {
  if (!existsSync(path.join(rendererDir, 'index.html')))
    throw new Error('the renderer is not built: run `npm run build`');
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium`);
  await mkdir(screens, { recursive: true });
  root = await mkdtemp(path.join(os.tmpdir(), 'mien-e2e-'));
  host = await startHost({
    rendererDir,
    resourcesDir: path.resolve('resources'),
    dataDir: path.join(root, 'data'),
    store: new JsonFileStore(path.join(root, 'data', 'settings.json')),
  });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  page.on('response', (response) => {
    if (response.status() >= 400) pageErrors.push(`${response.status()} ${response.url()}`);
  });
  await page.goto(host.url);
});

afterAll(async () => {
  await browser?.close();
  await host?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the app in a browser', () => {
  it('shows the backend and the shipped model in the status bar', async () => {
    const status = page.getByRole('contentinfo', { name: 'Status' });
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toMatch(/WebAssembly|JavaScript|native|GPU/);
    expect(await status.textContent()).toContain('Mien default');
  });

  it('opens a folder and shows its thumbnails', async () => {
    await page.getByLabel('Folder path').fill(photosDir);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    const tiles = page.getByRole('listbox', { name: 'Photos' }).getByRole('option');
    await expect.poll(() => tiles.count()).toBe(8);
    // Every photo there is readable: no notice of files not shown.
    expect(await page.getByRole('region', { name: 'Gallery' }).getByRole('note').count()).toBe(0);
    // Every visible thumbnail has really loaded (decoded, non-zero size).
    await expect
      .poll(() =>
        page.$$eval('[role="option"] img', (images) =>
          images.every((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0),
        ),
      )
      .toBe(true);
    await screenshot('1-gallery');
  });

  it('opens a photo and shows a box on its face', async () => {
    await page.getByRole('option', { name: 'obama.jpg' }).dblclick();
    await page.getByRole('button', { name: 'Select face 1' }).waitFor({ timeout: 60_000 });
    expect(await page.getByRole('button', { name: /^Select face/ }).count()).toBe(1);
    // The window is named after the photo, as desktop editors do.
    await expect.poll(() => page.title()).toBe('obama.jpg — Mien');
    await screenshot('2-editor');
  });

  it('moves the crop box, toggles a smile and shows the changed preview', async () => {
    const crop = page.getByLabel(/^Crop frame of/);
    const before = await crop.boundingBox();
    expect(before).not.toBeNull();
    await page.mouse.move(before!.x + before!.width / 2, before!.y + before!.height / 2);
    await page.mouse.down();
    await page.mouse.move(before!.x + before!.width / 2 + 12, before!.y + before!.height / 2 + 6, { steps: 4 });
    await page.mouse.up();
    const after = await crop.boundingBox();
    expect(Math.round(after!.x - before!.x)).toBeGreaterThanOrEqual(10);

    const expression = page.getByRole('radiogroup', { name: 'Expression' });
    const neutral = expression.getByRole('radio', { name: /Neutral/ });
    await neutral.check();
    const preview = page.getByTestId('preview-image');
    await expect.poll(() => preview.getAttribute('src'), { timeout: 60_000 }).toMatch(/^blob:/);
    const firstPreview = await preview.getAttribute('src');
    await page
      .getByRole('region', { name: 'Face 1' })
      .getByRole('slider', { name: 'Intensity', exact: true })
      .fill('1.5');
    await expect.poll(() => preview.getAttribute('src'), { timeout: 60_000 }).not.toBe(firstPreview);
    await screenshot('3-edited');
  });

  it('zooms to a face at full resolution, pans, and fits the photo again', async () => {
    // A photo larger than the editor's preview, where zooming in needs full-resolution pixels.
    await page.keyboard.press('Alt+ArrowLeft');
    await page.getByRole('heading', { name: 'obama-1080p.jpg' }).waitFor();
    await page.getByRole('button', { name: 'Select face 1' }).waitFor({ timeout: 60_000 });
    const unchecked = page.getByRole('radiogroup', { name: 'Expression' }).getByRole('radio', { checked: false });
    await unchecked.check();
    await expect.poll(() => page.getByTestId('preview-image').count(), { timeout: 60_000 }).toBe(1);

    const zoom = page.getByRole('group', { name: 'Zoom' });
    const level = async () => Number((await zoom.getByLabel('Zoom level').textContent())!.replace('%', ''));
    const fitted = await level();
    await zoom.getByRole('button', { name: 'Face' }).click();
    expect(await level()).toBeGreaterThan(1.5 * fitted);
    // The edited face is shown from the full-resolution photo: an image of the part of the photo on
    // screen, covering the stage (to within a photo pixel), with as many pixels as the screen or the
    // photo has there, whichever is fewer.
    const zoomedScale = (await level()) / 100;
    const detail = page.getByTestId('detail-edited');
    await detail.waitFor({ timeout: 60_000 });
    const sharp = () =>
      detail.evaluate((img: HTMLImageElement, scale) => {
        const box = img.getBoundingClientRect();
        const stage = img.closest('.stage')!.getBoundingClientRect();
        const covers =
          box.left <= stage.left + 0.5 &&
          box.top <= stage.top + 0.5 &&
          box.right >= stage.right - 0.5 &&
          box.bottom >= stage.bottom - 0.5 &&
          box.width <= stage.width + 2 * scale + 1 &&
          box.height <= stage.height + 2 * scale + 1;
        return img.complete && covers && img.naturalWidth >= Math.min(box.width, box.width / scale) - 1;
      }, zoomedScale);
    await expect.poll(sharp, { timeout: 60_000 }).toBe(true);
    await screenshot('3b-zoomed');

    // Dragging the photo beside the face pans the view: the crop frame follows the pointer.
    const crop = page.getByLabel(/^Crop frame of/);
    const before = (await crop.boundingBox())!;
    const start = { x: before.x + before.width + 40, y: before.y + before.height / 2 };
    await page.mouse.move(start.x, start.y);
    await page.mouse.down();
    await page.mouse.move(start.x - 60, start.y, { steps: 4 });
    await page.mouse.up();
    expect(Math.round((await crop.boundingBox())!.x - before.x)).toBe(-60);

    await page.keyboard.press('Control+0');
    expect(await level()).toBe(fitted);
    await expect.poll(() => detail.count()).toBe(0);
    await page.getByRole('button', { name: 'Reset all' }).click();
    await page.keyboard.press('Alt+ArrowRight');
    await page.getByRole('heading', { name: 'obama.jpg' }).waitFor();
    await page.getByRole('button', { name: 'Select face 1' }).waitFor({ timeout: 60_000 });
  });

  it('runs a small batch with progress and a summary', async () => {
    const outDir = path.join(root, 'batch-out');
    await page.getByRole('tab', { name: 'Batch' }).click();
    const panel = page.getByRole('region', { name: 'Batch edit' });
    await panel.getByRole('radio', { name: /Opened folder/ }).check();
    await panel.getByLabel('Output folder').fill(outDir);
    // The fast detector, chosen in the panel, must reach the batch: it finds every face checked below.
    await panel.getByLabel('Faster face detection').check();
    await panel.getByRole('button', { name: 'Start batch' }).click();
    await panel.getByText(/^\d+ written/).waitFor({ timeout: 240_000 });
    await screenshot('4-batch');
    // Every photo it finds a face in is written. The face cut by the edge of obama_partial_face.jpg,
    // which the default detector finds, shows that the panel's choice reached the batch.
    const written = await readdir(outDir);
    expect(written).toEqual(expect.arrayContaining(['biden.jpg', 'obama.jpg', 'two_people.jpg']));
    expect(written).not.toContain('obama_partial_face.jpg');
  });

  it('exports a before/after pair of the current photo', async () => {
    const outDir = path.join(root, 'pairs-out');
    await page.getByRole('tab', { name: 'Editor' }).click();
    const side = page.getByRole('complementary', { name: 'Face settings and export' });
    await side.getByLabel('Output folder').fill(outDir);
    await side.getByRole('button', { name: 'Export before/after' }).click();
    await expect.poll(() => readdir(outDir).catch(() => []), { timeout: 120_000 }).toEqual(['obama-before-after.jpg']);
    await screenshot('5-pairs');
    expect(pageErrors).toEqual([]);
  });

  it('saves export defaults in Settings, and the Batch panel starts from them', async () => {
    await page.getByRole('tab', { name: 'Settings' }).click();
    const settings = page.getByRole('region', { name: 'Settings' });
    await expect
      .poll(() => settings.getByTestId('settings-backend').textContent())
      .toMatch(/WebAssembly|JavaScript|native|GPU/);
    await settings.getByLabel('Format').selectOption('png');
    await settings.getByLabel('Keep metadata (EXIF, XMP)').uncheck();
    await settings.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status', { name: 'Messages' }).getByText('Settings saved').waitFor();
    expect(await settings.getByRole('button', { name: 'Save settings' }).isDisabled()).toBe(true);
    await screenshot('6-settings');
    await page.getByRole('tab', { name: 'Batch' }).click();
    const batch = page.getByRole('region', { name: 'Batch edit' });
    expect(await batch.getByLabel('Format').inputValue()).toBe('png');
    expect(await batch.getByLabel('Keep metadata (EXIF, XMP)').isChecked()).toBe(false);
  });

  it('fine-tunes the model on a folder of faces from the Fine-tune tab', async () => {
    const folder = path.join(root, 'my-faces');
    await mkdir(folder);
    for (const name of finetunePhotos) await copyFile(path.join(celebaDir, name), path.join(folder, name));
    // A phone's HEIC photo, which this build cannot read: not a tile, but told.
    await writeFile(path.join(folder, 'IMG_0001.HEIC'), 'HEVC-coded photo');
    await page.getByRole('tab', { name: 'Gallery' }).click();
    await page.getByLabel('Folder path').fill(folder);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await expect.poll(() => page.getByRole('listbox', { name: 'Photos' }).getByRole('option').count()).toBe(8);
    const notice = page.getByRole('region', { name: 'Gallery' }).getByRole('note');
    await expect.poll(() => notice.textContent()).toMatch(/1 file is not shown \(HEIC\): Mien reads JPEG/);
    await screenshot('6a-gallery-unreadable');

    await page.getByRole('tab', { name: 'Fine-tune' }).click();
    const source = page.getByRole('region', { name: '1. Photos to learn from' });
    await source.getByRole('radio', { name: /Opened folder/ }).check();
    await source.getByRole('button', { name: 'Find faces' }).click();
    const faces = page.getByRole('list', { name: 'Faces' }).getByRole('listitem');
    await expect.poll(() => faces.count(), { timeout: 120_000 }).toBe(8);
    // The classifier's label of the first face, flipped by the user.
    const first = page.getByRole('listitem', { name: 'Face 1' });
    const smiling = first.getByRole('radio', { name: 'Smiling' });
    await first.getByRole('radio', { name: (await smiling.isChecked()) ? 'Neutral' : 'Smiling' }).check();
    await first.getByText('corrected').waitFor();
    await page.getByRole('listitem', { name: 'Face 2' }).getByLabel('Held out').check();
    await expect.poll(() => page.getByTestId('face-counts').textContent()).toMatch(/2 held\s+out/);
    await screenshot('7-finetune-review');

    const train = page.getByRole('region', { name: '3. Train a profile' });
    await train.getByLabel('Profile name').fill('My faces');
    await train.getByRole('radio', { name: /Quick/ }).check();
    await train.getByText('Advanced', { exact: true }).click();
    // Enough steps that the pause below lands while it trains, however fast the machine.
    await train.getByLabel('Steps', { exact: true }).fill('60');
    await train.getByRole('button', { name: 'Start fine-tune' }).click();

    const run = page.getByRole('region', { name: 'Fine-tune “My faces”' });
    const stepShown = async () =>
      Number(/Step (\d+) of 60/.exec((await run.getByTestId('finetune-step').textContent()) ?? '')?.[1] ?? 0);
    // Paused as soon as it trains (at a step boundary, with a checkpoint), then resumed where it stopped.
    await expect.poll(stepShown, { timeout: 120_000 }).toBeGreaterThan(0);
    await run.getByRole('button', { name: 'Pause' }).click();
    await run.getByRole('status').getByText('Paused', { exact: true }).waitFor({ timeout: 120_000 });
    await screenshot('8-finetune-paused');
    const pausedAt = await stepShown();
    expect(pausedAt).toBeGreaterThan(0);
    expect(pausedAt).toBeLessThan(60);
    await run.getByRole('button', { name: 'Resume' }).click();
    await run.getByRole('status').getByText('Finished').waitFor({ timeout: 240_000 });
    // The loss chart of each phase, and the held-out faces as the finished profile draws them.
    expect(await run.getByRole('img', { name: /^Loss in phase 1/ }).count()).toBe(1);
    await run.getByTestId('finetune-preview').waitFor({ timeout: 120_000 });
    await screenshot('9-finetune-finished');
    const figures = run.getByRole('table');
    await figures.getByText('Expression success').waitFor();
    expect(await figures.textContent()).toMatch(/On the same 2 held-out faces/);
    await run.getByRole('button', { name: 'Activate My faces' }).click();
    await expect
      .poll(() => page.getByRole('contentinfo', { name: 'Status' }).getByTestId('status-model').textContent())
      .toContain('My faces');
    await screenshot('10-finetune-done');

    await run.getByRole('button', { name: 'Open Models' }).click();
    const card = page.getByRole('article', { name: 'My faces' });
    await card.getByText(/Fine-tuned from/).waitFor();
    await card.getByRole('button', { name: /^Roll back to/ }).waitFor();
    // The shipped model's recorded evaluation reads as words, not field names.
    const shipped = page.getByRole('article', { name: /^Mien default/ });
    expect(await shipped.getByRole('term').allTextContents()).toEqual(
      expect.arrayContaining(['Smile added', 'Smile removed', 'Identity kept', 'Reconstruction']),
    );
    expect(await shipped.getByText('smileOnSuccess').count()).toBe(0);
    await screenshot('11-models-profile');
    expect(pageErrors).toEqual([]);
  }, 360_000); // its own waits allow a slow machine up to 240 s for the run to finish
});
