import { copyFile, mkdir, mkdtemp, readdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventChannel, JobEnd, JobProgress } from '../../src-main/contract/ipc-contract.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { JsonFileStore } from '../../src-main/host/json-store.js';
import { createAppServices, type AppServices } from '../../src-main/services/app-services.js';

const photosDir = path.resolve(process.cwd(), '../shared/data/photos');

let root: string;
let library: string;
let outside: string;
let services: AppServices;
let store: JsonFileStore;
const events: { event: EventChannel; body: unknown }[] = [];

/** Calls a channel and returns the value, failing the test with the service's message otherwise. */
async function call<T = Record<string, unknown>>(channel: string, payload: unknown = {}): Promise<T> {
  const envelope = await services.dispatch(channel, payload);
  if (!envelope.ok) throw new Error(`${envelope.error.code}: ${envelope.error.message}`);
  return envelope.value as T;
}

async function failure(channel: string, payload: unknown): Promise<{ code: string; message: string }> {
  const envelope = await services.dispatch(channel, payload);
  if (envelope.ok) throw new Error(`${channel} should have failed`);
  return envelope.error;
}

function jobEnd(jobId: string): Promise<JobEnd> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      const end = events.find((e) => e.event === 'job:end' && (e.body as JobEnd).jobId === jobId);
      if (end) {
        clearInterval(poll);
        resolve(end.body as JobEnd);
      }
    }, 50);
  });
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'mien-services-'));
  library = path.join(root, 'library');
  outside = path.join(root, 'outside');
  await mkdir(path.join(library, 'nested'), { recursive: true });
  await mkdir(outside);
  await copyFile(path.join(photosDir, 'obama.jpg'), path.join(library, 'obama.jpg'));
  await copyFile(path.join(photosDir, 'two_people.jpg'), path.join(library, 'nested', 'two_people.jpg'));
  await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } })
    .png()
    .toFile(path.join(library, 'grey.png'));
  await writeFile(path.join(outside, 'secret.jpg'), 'not for the renderer');
  // Photos this build cannot read: a phone's HEIC, a camera's raw file.
  await writeFile(path.join(library, 'IMG_0001.HEIC'), 'HEVC-coded photo');
  await writeFile(path.join(library, 'nested', 'DSC_0002.nef'), 'raw sensor data');
  await symlink(outside, path.join(library, 'link-out'));
  // An untrained model of the shipped kind: edits change pixels, which is what these tests look at.
  await selectBackend('wasm');
  await mkdir(path.join(root, 'resources', 'models'), { recursive: true });
  const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 5);
  await model.save(path.join(root, 'resources', 'models', 'default.mien'), { name: 'Test model' }, true);
  model.dispose();
  store = new JsonFileStore(path.join(root, 'data', 'settings.json'));
  services = await createAppServices({
    dataDir: path.join(root, 'data'),
    resourcesDir: path.join(root, 'resources'),
    store,
    emit: (event, body) => events.push({ event, body }),
  });
});

afterAll(async () => {
  await services?.close();
  await rm(root, { recursive: true, force: true });
});

describe('payload validation', () => {
  it('refuses unknown channels and malformed payloads with a message naming the field', async () => {
    expect(await failure('photo:delete', {})).toMatchObject({ code: 'unknown-channel' });
    expect(await failure('__proto__', {})).toMatchObject({ code: 'unknown-channel' });
    const tooHigh = await failure('photo:preview', { photo: '/x.jpg', faces: [{ id: 'face-1', target: 5 }] });
    expect(tooHigh).toEqual({ code: 'invalid-payload', message: 'photo:preview: faces.0.target: expression above 2' });
    const extra = await failure('library:open', { folder: library, shell: 'rm -rf /' });
    expect(extra.code).toBe('invalid-payload');
    expect((await failure('photo:faces', { photo: 42 })).message).toMatch(/^photo:faces: photo: /);
    expect((await failure('models:delete', { id: 'default' })).message).toMatch(/confirmed/);
    expect((await failure('settings:set', { exportQuality: 101 })).code).toBe('invalid-payload');
  });
});

describe('folder access', () => {
  it('reaches no photo before its folder is opened', async () => {
    const error = await failure('photo:faces', { photo: path.join(library, 'obama.jpg') });
    expect(error.message).toMatch(/outside the folders you opened/);
    expect((await services.servePhoto(path.join(library, 'obama.jpg'), 128)).status).toBe(403);
  });

  it('lists an opened folder and serves its photos, but nothing outside it', async () => {
    type Listing = { folder: string; photos: { name: string; folder: string }[]; unreadable: unknown };
    const flat = await call<Listing>('library:open', { folder: library });
    expect(flat.photos.map((p) => p.name)).toEqual(['grey.png', 'obama.jpg']);
    // Photos it cannot read are counted, so that the user knows why they are missing.
    expect(flat.unreadable).toEqual({ count: 1, extensions: ['.heic'] });
    const deep = await call<Listing>('library:open', { folder: library, recursive: true });
    expect(deep.photos.map((p) => `${p.folder}/${p.name}`)).toContain('nested/two_people.jpg');
    expect(deep.unreadable).toEqual({ count: 2, extensions: ['.heic', '.nef'] });
    expect((await call<{ folders: string[] }>('library:recent')).folders[0]).toBe(flat.folder);

    const thumbnail = await services.servePhoto(path.join(library, 'obama.jpg'), 128);
    expect(thumbnail.status).toBe(200);
    const { width, height } = await sharp(thumbnail.body as Buffer).metadata();
    expect(Math.max(width, height)).toBe(128);
    expect((await services.servePhoto(path.join(library, '..', 'outside', 'secret.jpg'))).status).toBe(403);
    expect((await services.servePhoto(path.join(library, 'link-out', 'secret.jpg'))).status).toBe(403);
    expect((await services.servePhoto(path.join(library, 'missing.jpg'))).status).toBe(404);
    expect((await services.servePhoto('relative/obama.jpg')).status).toBe(403);
  });
});

describe("showing files in the system's file manager", () => {
  it('is refused where there is none (the browser host)', async () => {
    expect((await failure('file:showInFolder', { path: path.join(library, 'obama.jpg') })).message).toMatch(
      /no file manager/,
    );
  });

  it('shows only files inside the folders the user opened', async () => {
    const shown: string[] = [];
    const desktop = await createAppServices({
      dataDir: path.join(root, 'desktop-data'),
      resourcesDir: path.join(root, 'resources'),
      store: new JsonFileStore(path.join(root, 'desktop-data', 'settings.json')),
      emit: () => {},
      dialogs: {
        chooseFolder: async () => library,
        chooseModelFile: async () => null,
        chooseModelExportFile: async () => null,
        showInFolder: (file) => void shown.push(file),
      },
    });
    try {
      const show = (file: string) => desktop.dispatch('file:showInFolder', { path: file });
      expect(await show(path.join(library, 'obama.jpg'))).toMatchObject({ ok: false });
      await desktop.dispatch('library:chooseFolder', { purpose: 'open' });
      expect(await show(path.join(library, 'obama.jpg'))).toEqual({ ok: true, value: { ok: true } });
      expect(await show(path.join(outside, 'secret.jpg'))).toMatchObject({ ok: false });
      expect(await show(path.join(library, 'link-out', 'secret.jpg'))).toMatchObject({ ok: false });
      expect(shown).toEqual([path.join(await realpath(library), 'obama.jpg')]);
    } finally {
      await desktop.close();
    }
  });
});

describe('editing through the services', () => {
  const photo = () => path.join(library, 'obama.jpg');

  it('finds faces, previews an edit and keeps unedited previews identical to the photo', async () => {
    await call('library:open', { folder: library });
    const found = await call<{ width: number; faces: { id: string; frame: { size: number } }[] }>('photo:faces', {
      photo: photo(),
    });
    expect(found.faces.length).toBe(1);
    const plain = await call<{ image: Uint8Array; width: number }>('photo:preview', {
      photo: photo(),
      faces: [],
      maxSide: 400,
    });
    // The face smiles: the edit that shows is taking the smile away.
    const edited = await call<{ image: Uint8Array; width: number; height: number; mime: string }>('photo:preview', {
      photo: photo(),
      faces: [{ id: 'face-1', target: 0 }],
      maxSide: 400,
    });
    expect(edited.mime).toBe('image/jpeg');
    expect(Math.max(edited.width, edited.height)).toBe(400);
    const [a, b] = await Promise.all([plain, edited].map((p) => sharp(p.image).raw().toBuffer()));
    let changed = 0;
    for (let i = 0; i < a!.length; i++) if (Math.abs(a![i]! - b![i]!) > 8) changed++;
    expect(changed).toBeGreaterThan(100);

    const unknownFace = await failure('photo:preview', { photo: photo(), faces: [{ id: 'face-9', target: 1 }] });
    expect(unknownFace.message).toMatch(/no face-9 in this photo/);
  });

  it('shows a zoomed-in box at full resolution, with the pixels the export writes there', async () => {
    type Found = { width: number; faces: { frame: { centerX: number; centerY: number; size: number } }[] };
    type Preview = { image: Uint8Array; width: number; height: number; region: Record<string, number> };
    const found = await call<Found>('photo:faces', { photo: photo() });
    const { frame } = found.faces[0]!;
    const side = Math.round(frame.size);
    const region = {
      left: Math.max(0, Math.round(frame.centerX - side / 2)),
      top: Math.max(0, Math.round(frame.centerY - side / 2)),
      width: side,
      height: side,
    };
    const faces = [{ id: 'face-1', target: 0 }];
    const zoomed = await call<Preview>('photo:preview', { photo: photo(), faces, region, maxSide: 4096 });
    expect(zoomed.region).toEqual(region);
    expect([zoomed.width, zoomed.height]).toEqual([side, side]);

    const exported = await call<{ file: string }>('photo:export', {
      photo: photo(),
      faces,
      outDir: path.join(root, 'zoom-check'),
      format: 'png',
    });
    const truth = await sharp(exported.file).extract(region).raw().toBuffer();
    const original = await sharp(photo()).extract(region).raw().toBuffer();
    const shown = await sharp(zoomed.image).raw().toBuffer();
    // Where the edit changed a pixel (this untrained model's edits are faint at full resolution),
    // the view shows the exported value, not the original's (up to its own JPEG coding).
    const changed = [...truth.keys()].filter((i) => Math.abs(truth[i]! - original[i]!) > 4);
    const meanDifference = (a: Buffer) =>
      changed.reduce((sum, i) => sum + Math.abs(a[i]! - shown[i]!), 0) / changed.length;
    expect(changed.length).toBeGreaterThan(100);
    expect(meanDifference(truth)).toBeLessThan(meanDifference(original) / 2);

    const small = await call<Preview>('photo:preview', { photo: photo(), faces, region, maxSide: 100 });
    expect([small.width, small.height]).toEqual([100, 100]);
    // A box reaching past the photo's edge is cut at it; one outside it is refused.
    const edge = { left: found.width - 50, top: 0, width: 200, height: 80 };
    const cut = await call<Preview>('photo:preview', { photo: photo(), faces: [], region: edge, maxSide: 400 });
    expect(cut.region).toEqual({ left: found.width - 50, top: 0, width: 50, height: 80 });
    const beyond = await failure('photo:preview', {
      photo: photo(),
      faces: [],
      region: { ...edge, left: found.width },
    });
    expect(beyond.message).toMatch(/outside the \d+x\d+ photo/);
    expect((await failure('photo:preview', { photo: photo(), faces: [], region: { ...edge, width: 0 } })).code).toBe(
      'invalid-payload',
    );
  });

  it('saves and restores edit records, and exports into a chosen folder only', async () => {
    const faces = [
      { id: 'face-1', frame: { centerX: 300, centerY: 200, size: 150, angle: 0.1 }, source: 0.2, target: 1 },
    ];
    await call('photo:saveEdits', { photo: photo(), faces });
    expect(await call('photo:edits', { photo: photo() })).toEqual({ faces, stale: false });
    const listed = await call<{ photos: { name: string; editedFaces: number }[] }>('library:open', { folder: library });
    expect(listed.photos.find((p) => p.name === 'obama.jpg')?.editedFaces).toBe(1);

    const exportDir = path.join(root, 'exports');
    const exported = await call<{ file: string }>('photo:export', {
      photo: photo(),
      faces: [{ id: 'face-1', target: 0 }],
      outDir: exportDir,
      format: 'png',
    });
    expect(path.dirname(exported.file)).toBe(exportDir);
    expect(path.basename(exported.file)).toBe('obama-edited.png');
    expect((await sharp(exported.file).metadata()).format).toBe('png');
  });

  it('runs a batch as a job with progress events, and resumes without redoing outputs', async () => {
    const outDir = path.join(root, 'batch-out');
    const { jobId } = await call<{ jobId: string }>('batch:start', {
      source: { folder: library, recursive: true },
      target: 1,
      outDir,
    });
    const end = await jobEnd(jobId);
    expect(end.state).toBe('done');
    expect(end.summary).toMatch(/^2 written/);
    expect(end.summary).toMatch(/2 not readable here/);
    expect(end.errors).toEqual([
      { file: expect.stringContaining('grey.png'), error: 'no face found' },
      // The phone's HEIC and the camera's raw file of the folder are named, not passed over.
      {
        file: expect.stringContaining('IMG_0001.HEIC'),
        error: expect.stringMatching(/cannot read.*convert it to JPEG/),
      },
      { file: expect.stringContaining('DSC_0002.nef'), error: expect.stringMatching(/cannot read/) },
    ]);
    const progress = events.filter((e) => e.event === 'job:progress').map((e) => e.body as JobProgress);
    expect(progress.at(-1)).toMatchObject({ jobId, kind: 'batch', done: 3, total: 3 });
    expect((await readdir(outDir, { recursive: true })).sort()).toEqual([
      'nested',
      'nested/two_people.jpg',
      'obama.jpg',
    ]);

    const again = await call<{ jobId: string }>('batch:start', {
      source: { photos: [path.join(library, 'obama.jpg')] },
      target: 0,
      outDir,
    });
    expect((await jobEnd(again.jobId)).summary).toMatch(/^0 written, 1 already done/);

    const fast = await call<{ jobId: string }>('batch:start', {
      source: { photos: [path.join(library, 'obama.jpg')] },
      target: 0,
      outDir: path.join(root, 'batch-fast'),
      detector: 'fast',
    });
    expect((await jobEnd(fast.jobId)).summary).toMatch(/^1 written/);
    const unknown = await failure('batch:start', {
      source: { photos: [photo()] },
      target: 0,
      outDir,
      detector: 'quick',
    });
    expect(unknown.code).toBe('invalid-payload');
    expect(unknown.message).toMatch(/^batch:start: detector: /);
    expect((await failure('job:cancel', { jobId: 'no-such-job' })).message).toMatch(/not running/);
  });

  it('exports before/after pairs as a job', async () => {
    const outDir = path.join(root, 'pairs');
    const { jobId } = await call<{ jobId: string }>('pairs:export', {
      photos: [photo()],
      outDir,
      layout: 'both',
    });
    const end = await jobEnd(jobId);
    expect(end.state).toBe('done');
    expect(end.files.map((f) => path.basename(f)).sort()).toEqual([
      'obama-after.jpg',
      'obama-before-after.jpg',
      'obama-before.jpg',
    ]);
  });
});

describe('models and settings', () => {
  it('lists the shipped model, imports, activates and deletes another, refusing broken files', async () => {
    const listed = await call<{ models: { id: string; active: boolean; name: string }[] }>('models:list');
    expect(listed.models).toEqual([expect.objectContaining({ id: 'default', active: true, name: 'Test model' })]);

    const broken = path.join(root, 'broken.mien');
    await writeFile(broken, 'MIENCKPT but not really');
    expect((await failure('models:import', { file: broken })).message).toMatch(/broken\.mien/);

    const imported = await call<{ model: { id: string } }>('models:import', {
      file: path.join(root, 'resources', 'models', 'default.mien'),
      name: 'My Family',
    });
    expect(imported.model.id).toMatch(/^my-family-[0-9a-f]{6}$/);
    await call('models:activate', { id: imported.model.id });
    const status = await call<{ model: { name: string } }>('app:status');
    expect(status.model.name).toBe('My Family');
    expect(events.some((e) => e.event === 'app:status')).toBe(true);

    expect((await failure('models:delete', { id: 'default', confirmed: true })).message).toMatch(/cannot be deleted/);
    await call('models:delete', { id: imported.model.id, confirmed: true });
    const after = await call<{ models: { id: string; active: boolean }[] }>('models:list');
    expect(after.models).toEqual([expect.objectContaining({ id: 'default', active: true })]);
  });

  it('keeps settings, merging partial updates', async () => {
    const initial = await call<{ exportQuality: number; keepMetadata: boolean }>('settings:get');
    expect(initial.exportQuality).toBe(92);
    const next = await call('settings:set', { exportQuality: 80, keepMetadata: false });
    expect(next).toMatchObject({ exportQuality: 80, keepMetadata: false, exportFormat: 'same' });
    await store.flush();
    expect(new JsonFileStore(path.join(root, 'data', 'settings.json')).get('settings')).toMatchObject({
      exportQuality: 80,
    });
  });

  it('names the backend in use', async () => {
    const status = await call<{ backend: { label: string }; nativeDialogs: boolean }>('app:status');
    expect(status.backend.label).toMatch(/WebAssembly|JavaScript|native|GPU/);
    expect(status.nativeDialogs).toBe(false);
  });
});
