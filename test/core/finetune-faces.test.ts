import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import {
  collectFaces,
  labelWarnings,
  listPhotos,
  personDescriptor,
} from '../../src-main/core/finetune/collect-faces.js';
import {
  chooseHoldout,
  createFaceSet,
  defaultHoldout,
  readFaceSet,
  updateFaceSet,
} from '../../src-main/core/finetune/face-set.js';
import { loadFaceDataset } from '../../src-main/core/training/dataset.js';
import { faceImages } from '../helpers/faces.js';
import { celebaFaces } from '../fixtures/finetune.js';

const photos = path.resolve(process.cwd(), '../shared/data/photos');
const temporary = () => mkdtemp(path.join(os.tmpdir(), 'mien-ft-faces-'));
const codes = (labels: number[]) => labelWarnings(labels).map((w) => w.code);

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('labelling faces from photos', () => {
  it('labels a smiling and a neutral face by the classifier, aligned at the crop size', async () => {
    const files = ['obama.jpg', 'biden.jpg'].map((f) => path.join(photos, f));
    const collection = await collectFaces({ files }, { cropSize: 96 });
    expect(collection.faces.map((f) => [path.basename(f.photo), f.label])).toEqual([
      ['obama.jpg', 1],
      ['biden.jpg', 0],
    ]);
    for (const face of collection.faces) {
      expect(face.crop).toHaveLength(96 * 96 * 3);
      expect(face.descriptor).toHaveLength(128);
    }
    // The frame is in the photo's own pixels although detection ran on a smaller copy (biden.jpg is 2204 px tall).
    expect(collection.faces[1]!.frame.centerY).toBeGreaterThan(300);
    expect(collection.warnings.map((w) => w.code)).toEqual(['too-few-faces']);
  });

  it('labels CelebA faces as their smiling attribute says', async () => {
    const dir = await temporary();
    for (const name of ['000001.jpg', '000006.jpg']) await copyFile(path.join(faceImages, name), path.join(dir, name));
    await writeFile(path.join(dir, 'notes.txt'), 'not a photo');
    const collection = await collectFaces({ folder: dir });
    expect(collection.photos).toBe(2);
    expect(collection.faces.map((f) => [path.basename(f.photo), f.label])).toEqual([
      ['000001.jpg', 1],
      ['000006.jpg', 0],
    ]);
  });

  it('keeps only the faces of one person when asked, one per photo', async () => {
    const person = await personDescriptor(path.join(photos, 'obama.jpg'));
    const files = ['obama-1080p.jpg', 'biden.jpg', 'two_people.jpg', '32bit.png'].map((f) => path.join(photos, f));
    const collection = await collectFaces({ files }, { person: { descriptor: person } });
    // two_people.jpg shows Obama (left) and Biden: only Obama's face is taken.
    expect(collection.faces.map((f) => [path.basename(f.photo), f.faceId])).toEqual([
      ['obama-1080p.jpg', 'face-1'],
      ['two_people.jpg', 'face-1'],
      ['32bit.png', 'face-1'],
    ]);
    for (const face of collection.faces) expect(face.personDistance).toBeLessThan(0.5);
    expect(collection.skipped).toEqual([{ file: files[1], reason: 'no face of this person' }]);
  });

  it('reports photos it cannot read or find a face in, and goes on', async () => {
    const dir = await temporary();
    await writeFile(path.join(dir, 'broken.jpg'), 'not an image');
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#88aacc' } })
      .png()
      .toFile(path.join(dir, 'sky.png'));
    await copyFile(path.join(photos, 'obama.jpg'), path.join(dir, 'obama.jpg'));
    expect((await listPhotos(dir)).map((f) => path.basename(f))).toEqual(['broken.jpg', 'obama.jpg', 'sky.png']);
    const collection = await collectFaces({ folder: dir });
    expect(collection.faces).toHaveLength(1);
    expect(collection.skipped.map((s) => [path.basename(s.file), s.reason])).toEqual([
      ['broken.jpg', expect.stringMatching(/not an image/)],
      ['sky.png', 'no face found'],
    ]);
    await expect(collectFaces({ folder: path.join(dir, 'missing') })).rejects.toThrow(/missing: folder not found/);
  });

  it('stops when cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      collectFaces({ files: [path.join(photos, 'obama.jpg')] }, { signal: controller.signal }),
    ).rejects.toThrow();
  });
});

describe('warnings before training', () => {
  it('warns of no faces, too few faces, one expression, and too few of one', () => {
    expect(codes([])).toEqual(['no-faces']);
    expect(codes([0, 1, 0, 1, 0, 1])).toEqual(['too-few-faces']);
    expect(codes(Array<number>(20).fill(1))).toEqual(['one-expression']);
    expect(codes(Array<number>(5).fill(0))).toEqual(['too-few-faces', 'one-expression']);
    expect(codes([...Array<number>(20).fill(0), 1, 1])).toEqual(['few-of-one-expression']);
    expect(codes([...Array<number>(15).fill(0), ...Array<number>(15).fill(1)])).toEqual([]);
    expect(labelWarnings(Array<number>(20).fill(1))[0]!.message).toMatch(/every face is smiling/);
  });
});

describe('face sets', () => {
  it('holds out a few faces of both expressions, never an expression’s last training face', () => {
    expect([3, 5, 12, 30, 100].map(defaultHoldout)).toEqual([0, 1, 2, 4, 6]);
    const labels = [0, 0, 0, 0, 0, 0, 1, 1];
    const held = chooseHoldout(labels, 4, 7);
    expect(held).toHaveLength(4);
    expect(held.filter((i) => labels[i] === 1)).toHaveLength(1);
    expect(chooseHoldout([1, 0, 0], 2, 1).every((i) => i !== 0)).toBe(true);
    expect(chooseHoldout(labels, 4, 7)).toEqual(held);
  });

  it('is a folder the trainer reads: square aligned crops are resized, not cropped', async () => {
    const dir = path.join(await temporary(), 'set');
    const faces = await celebaFaces(10, 48);
    const set = await createFaceSet(dir, faces, { holdout: 2 });
    expect(set.counts).toMatchObject({ train: 8, holdout: 2 });
    expect((await readFile(set.labelsCsv, 'utf8')).split('\n')[0]).toBe('file,smiling,split');
    const data = await loadFaceDataset({
      imagesDir: set.imagesDir,
      labelsCsv: set.labelsCsv,
      labelColumn: 'smiling',
      split: 'train',
      size: 48,
    });
    expect(data.count).toBe(8);
    // A square crop at the model's size goes through the loader unchanged (but for PNG's lossless round trip).
    const first = faces.findIndex((_, i) => set.faces[i]!.split === 'train');
    expect(Buffer.from(data.images.subarray(0, 48 * 48 * 3)).equals(Buffer.from(faces[first]!.crop))).toBe(true);
    await expect(createFaceSet(dir, faces)).rejects.toThrow(/already holds a face set/);
  });

  it('takes the user’s corrections: labels, splits, faces left out', async () => {
    const dir = path.join(await temporary(), 'set');
    const set = await createFaceSet(dir, await celebaFaces(14, 32), { holdout: 0 });
    const [a, b, c] = set.faces;
    const updated = await updateFaceSet(dir, [
      { file: a!.file, smiling: a!.smiling === 1 ? 0 : 1 },
      { file: b!.file, split: 'holdout' },
      { file: c!.file, remove: true },
    ]);
    expect(updated.faces).toHaveLength(13);
    expect(updated.faces[0]).toMatchObject({ smiling: a!.smiling === 1 ? 0 : 1, corrected: true });
    expect(updated.counts).toMatchObject({ train: 12, holdout: 1 });
    expect(await readFaceSet(dir)).toEqual(updated);
    const csv = await readFile(updated.labelsCsv, 'utf8');
    expect(csv).toContain(`${a!.file},${a!.smiling === 1 ? 0 : 1},train`);
    expect(csv).not.toContain(c!.file);
    await expect(updateFaceSet(dir, [{ file: 'nobody.png', smiling: 1 }])).rejects.toThrow(/no face nobody\.png/);
    // Every training face made neutral: the set warns that only one expression is left.
    const neutral = await updateFaceSet(
      dir,
      updated.faces.map((f) => ({ file: f.file, smiling: 0 as const })),
    );
    expect(neutral.warnings.map((w) => w.code)).toContain('one-expression');
  });

  it('names the problem when its folder cannot be created', async () => {
    const blocker = path.join(await temporary(), 'a-file');
    await writeFile(blocker, 'in the way');
    await expect(createFaceSet(path.join(blocker, 'set'), await celebaFaces(2, 32))).rejects.toThrow(
      /a file is in the way/,
    );
    await expect(readFaceSet(blocker)).rejects.toThrow(/is not a face set/);
  });
});
