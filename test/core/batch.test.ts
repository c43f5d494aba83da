import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { defaultBatchThreads, planBatch, runBatch } from '../../src-main/core/editing/batch.js';
import { writePair } from '../../src-main/core/editing/pairs.js';
import { editPhoto } from '../../src-main/core/editing/edit-photo.js';
import { PhotoPool } from '../../src-main/core/editing/photo-pool.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { readOnlyFolder } from '../helpers/read-only.js';

const photos = path.resolve(process.cwd(), '../shared/data/photos');
let model: ExpressionModel;

beforeAll(async () => {
  await selectBackend('wasm');
  model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 3);
});
afterAll(() => model.dispose());

/** A folder with two real photos, one without a face, one broken file and a nested photo. */
async function inputFolder(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-batch-in-'));
  await copyFile(path.join(photos, 'obama.jpg'), path.join(dir, 'a.jpg'));
  await copyFile(path.join(photos, 'kit_with_rose.jpg'), path.join(dir, 'b.jpg'));
  await sharp({ create: { width: 200, height: 150, channels: 3, background: '#777777' } })
    .png()
    .toFile(path.join(dir, 'wall.png'));
  await writeFile(path.join(dir, 'broken.jpg'), 'not a photo');
  await mkdir(path.join(dir, 'nested'));
  await copyFile(path.join(photos, 'obama_partial_face.jpg'), path.join(dir, 'nested', 'c.jpg'));
  return dir;
}

const hashes = async (dir: string) =>
  Object.fromEntries(
    await Promise.all(
      (await readdir(dir))
        .filter((f) => f.includes('.'))
        .map(async (f) => [
          f,
          createHash('sha256')
            .update(await readFile(path.join(dir, f)))
            .digest('hex'),
        ]),
    ),
  );

describe('batch edits', () => {
  it('uses two photo threads on two or three cores and one per two cores beyond, or one beside a pool', () => {
    expect([1, 2, 3, 4, 6, 8, 16].map((cores) => defaultBatchThreads(cores, 1))).toEqual([1, 2, 2, 2, 3, 4, 8]);
    // A pool of threads in the calling thread takes the place of photo threads.
    expect([2, 4, 8, 16].map((cores) => defaultBatchThreads(cores, cores))).toEqual([1, 1, 1, 1]);
    expect([4, 8, 16].map((cores) => defaultBatchThreads(cores, 2))).toEqual([2, 4, 8]);
  });

  it('edits on worker threads exactly what one thread edits, failures included', async () => {
    const input = await inputFolder();
    const modelFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'mien-batch-model-')), 'model.mien');
    await model.save(modelFile);
    const root = await mkdtemp(path.join(os.tmpdir(), 'mien-batch-threads-'));
    const one = await runBatch(model, { inputDir: input, outputDir: path.join(root, 'one'), target: 1 });
    const two = await runBatch(model, {
      inputDir: input,
      outputDir: path.join(root, 'two'),
      target: 1,
      threads: 2,
      modelFile,
    });
    expect({ ...two, seconds: 0 }).toEqual({ ...one, seconds: 0 });
    expect(two.written).toBe(2);
    const [a, b] = await Promise.all(
      ['one', 'two'].map((d) =>
        sharp(path.join(root, d, 'a.jpg'))
          .raw()
          .toBuffer(),
      ),
    );
    expect(b!.equals(a!)).toBe(true);

    // The batch's calling thread may have edited every photo before its worker was ready: edit through one directly.
    const pool = PhotoPool.start(1, modelFile, 'wasm');
    try {
      await pool.ready;
      const settings = { target: 1, quality: 92, keepMetadata: true };
      expect(await pool.edit(path.join(input, 'a.jpg'), path.join(root, 'worker-a.jpg'), settings)).toBe(1);
      await expect(
        pool.edit(path.join(input, 'broken.jpg'), path.join(root, 'worker-broken.jpg'), settings),
      ).rejects.toThrow(/broken\.jpg: not an image/);
      const worker = await sharp(path.join(root, 'worker-a.jpg')).raw().toBuffer();
      expect(worker.equals(a!)).toBe(true);
    } finally {
      await pool.close();
    }
    // A pool closed while its workers still load ends at once.
    await PhotoPool.start(1, modelFile, 'wasm').close();
  });

  it('edits with the fast face detector, on worker threads too', async () => {
    const input = await inputFolder();
    const modelFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'mien-batch-model-')), 'model.mien');
    await model.save(modelFile);
    const output = path.join(await mkdtemp(path.join(os.tmpdir(), 'mien-batch-fast-')), 'edited');
    const report = await runBatch(model, {
      inputDir: input,
      outputDir: output,
      target: 1,
      detector: 'fast',
      threads: 2,
      modelFile,
    });
    expect(report).toMatchObject({ files: 4, written: 2, facesEdited: 3, cancelled: false });
    expect(report.noFace).toEqual([path.join(input, 'wall.png')]);
    expect(report.failed).toHaveLength(1);
    expect((await readdir(output)).sort()).toEqual(['a.jpg', 'b.jpg']);

    // The setting reaches a worker with each photo: the fast detector misses the face cut by
    // the edge of obama_partial_face.jpg (nested/c.jpg), which the accurate one finds.
    const pool = PhotoPool.start(1, modelFile, 'wasm');
    try {
      await pool.ready;
      const settings = { target: 1, quality: 92, keepMetadata: true };
      const partial = path.join(input, 'nested', 'c.jpg');
      expect(await pool.edit(partial, path.join(output, 'c-fast.jpg'), { ...settings, detector: 'fast' })).toBe(0);
      expect(await pool.edit(partial, path.join(output, 'c.jpg'), { ...settings, detector: 'accurate' })).toBe(1);
      expect(await pool.edit(path.join(input, 'a.jpg'), path.join(output, 'a-worker.jpg'), settings)).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('edits a folder, reports each failure without stopping, and resumes', async () => {
    const input = await inputFolder();
    // A phone's HEIC photo: not edited, and reported rather than passed over in silence.
    await writeFile(path.join(input, 'IMG_0001.HEIC'), 'HEVC-coded photo');
    const before = await hashes(input);
    const output = path.join(await mkdtemp(path.join(os.tmpdir(), 'mien-batch-out-')), 'edited');
    const progress: number[] = [];
    const first = await runBatch(model, {
      inputDir: input,
      outputDir: output,
      target: 0,
      onProgress: (p) => progress.push(p.filesDone),
    });
    expect(first).toMatchObject({ files: 4, written: 2, alreadyDone: 0, cancelled: false });
    expect(first.noFace).toEqual([path.join(input, 'wall.png')]);
    expect(first.failed).toHaveLength(1);
    expect(first.failed[0]!.error).toMatch(/broken\.jpg: not an image/);
    expect(first.unreadable).toEqual([path.join(input, 'IMG_0001.HEIC')]);
    expect(first.facesEdited).toBe(3);
    expect(progress.at(-1)).toBe(4);
    expect((await readdir(output)).sort()).toEqual(['a.jpg', 'b.jpg']);
    expect(await hashes(input)).toEqual(before);

    const again = await runBatch(model, { inputDir: input, outputDir: output, target: 0, recursive: true });
    expect(again).toMatchObject({ files: 5, written: 1, alreadyDone: 2 });
    expect(await readdir(path.join(output, 'nested'))).toEqual(['c.jpg']);
  });

  it('stops when cancelled and leaves no partial files', async () => {
    const input = await inputFolder();
    const output = await mkdtemp(path.join(os.tmpdir(), 'mien-batch-out-'));
    const controller = new AbortController();
    const report = await runBatch(model, {
      inputDir: input,
      outputDir: output,
      target: 1,
      concurrency: 1,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    expect(report.cancelled).toBe(true);
    expect((await readdir(output)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses an output folder that is the input, inside it when recursive, or not writable', async () => {
    const input = await inputFolder();
    await expect(planBatch({ inputDir: input, outputDir: input, target: 1 })).rejects.toThrow(
      /originals are never overwritten/,
    );
    await expect(
      planBatch({ inputDir: input, outputDir: path.join(input, 'out'), target: 1, recursive: true }),
    ).rejects.toThrow(/inside the input folder/);
    const blocked = path.join(input, 'a.jpg', 'out');
    await expect(planBatch({ inputDir: input, outputDir: blocked, target: 1 })).rejects.toThrow(
      /cannot write the results to .*a\.jpg\/out: a file is in the way/,
    );
    await expect(planBatch({ inputDir: path.join(input, 'nope'), outputDir: blocked, target: 1 })).rejects.toThrow(
      /not a folder/,
    );
  });

  it('refuses a read-only output folder in words before editing anything', async (context) => {
    const input = await inputFolder();
    const readOnly = await readOnlyFolder(path.join(path.dirname(input), 'read-only'));
    if (!readOnly) return context.skip('this system lets the tests make no read-only folder');
    try {
      await expect(planBatch({ inputDir: input, outputDir: readOnly.dir, target: 1 })).rejects.toThrow(
        /cannot write the results to .*read-only: (permission denied|the disk is read-only); choose another folder/,
      );
      await expect(
        planBatch({ inputDir: input, outputDir: path.join(readOnly.dir, 'sub'), target: 1 }),
      ).rejects.toThrow(/cannot write the results/);
    } finally {
      await readOnly.release();
    }
  });

  it('gives colliding outputs distinct names when converting formats', async () => {
    const input = await mkdtemp(path.join(os.tmpdir(), 'mien-batch-in-'));
    await copyFile(path.join(photos, 'obama.jpg'), path.join(input, 'x.jpg'));
    await copyFile(path.join(photos, '32bit.png'), path.join(input, 'x.png'));
    const output = await mkdtemp(path.join(os.tmpdir(), 'mien-batch-out-'));
    const plan = await planBatch({ inputDir: input, outputDir: output, target: 1, format: 'jpeg' });
    expect(plan.photos.map((p) => path.basename(p.output))).toEqual(['x.jpg', 'x-2.jpg']);
  });
});

describe('before/after pairs', () => {
  it('writes a side-by-side image twice as wide and two matching files', async () => {
    const source = path.join(photos, 'obama.jpg');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-pairs-'));
    const edited = await editPhoto(source, model, { target: 0 });
    const files = await writePair(source, edited, dir, {
      layout: 'both',
      labels: true,
      quality: 90,
      format: 'png',
    });
    expect(files.map((f) => path.basename(f))).toEqual([
      'obama-before.png',
      'obama-after.png',
      'obama-before-after.png',
    ]);
    const [before, after, both] = await Promise.all(files.map((f) => sharp(f).metadata()));
    expect([before!.width, after!.width]).toEqual([910, 910]);
    expect(both!.width).toBeGreaterThan(2 * 910);
    expect(both!.height).toBe(1137);
  });
});
