import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { evaluateModel, sharpnessKeptAt } from '../../src-main/core/evaluation/evaluate.js';
import { columnGroups, probeLatent, strongestColumn } from '../../src-main/core/evaluation/latent-probe.js';
import { detailSharpness, psnr, ssim } from '../../src-main/core/evaluation/image-metrics.js';
import { defaultModelPath } from '../../src-main/core/model/default-model.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { faceImages, faceLabels } from '../helpers/faces.js';
import { seededRandom } from '../helpers/random.js';

describe('image metrics', () => {
  it('PSNR: infinite for identical images, 20 log10(255 / rmse) otherwise', () => {
    const a = new Uint8Array([10, 20, 30, 40]);
    expect(psnr(a, a)).toBe(Infinity);
    expect(psnr(a, new Uint8Array([20, 30, 40, 50]))).toBeCloseTo(20 * Math.log10(255 / 10), 6);
  });

  it('SSIM: 1 for identical images, lower for noise, near 0 for unrelated images', () => {
    const random = seededRandom(5);
    const size = 24;
    const a = Uint8Array.from({ length: size * size * 3 }, (_, i) => Math.floor(((i / 3) % size) * 10));
    const noisy = a.map((v) => Math.min(255, Math.max(0, v + Math.round((random() - 0.5) * 60))));
    const unrelated = Uint8Array.from({ length: a.length }, () => Math.floor(random() * 256));
    expect(ssim(a, a, size, size)).toBeCloseTo(1, 6);
    const withNoise = ssim(a, noisy, size, size);
    expect(withNoise).toBeLessThan(0.95);
    expect(withNoise).toBeGreaterThan(ssim(a, unrelated, size, size));
  });
});

describe('detail sharpness', () => {
  const size = 40;
  const whole = { top: 0, bottom: 1, left: 0, right: 1 };
  // A grey texture with detail at every scale: noise over large soft shapes.
  const random = seededRandom(11);
  const texture = Float32Array.from({ length: size * size }, (_, i) => {
    const x = i % size;
    const y = Math.floor(i / size);
    return 128 + 40 * Math.sin(x / 4) * Math.cos(y / 5) + (random() - 0.5) * 50;
  });
  const rgb = (grey: (v: number, i: number) => number) =>
    Uint8Array.from({ length: size * size * 3 }, (_, i) => {
      const p = Math.floor(i / 3);
      return Math.min(255, Math.max(0, Math.round(grey(texture[p]!, p))));
    });
  const blurred = (values: Float32Array) =>
    values.map((_, i) => {
      const x = i % size;
      const y = Math.floor(i / size);
      let sum = 0;
      let count = 0;
      for (let yy = Math.max(0, y - 2); yy <= Math.min(size - 1, y + 2); yy++) {
        for (let xx = Math.max(0, x - 2); xx <= Math.min(size - 1, x + 2); xx++) {
          sum += values[yy * size + xx]!;
          count++;
        }
      }
      return sum / count;
    });

  it('falls when the area is blurred, not when its contrast changes', () => {
    const sharp = detailSharpness(
      rgb((v) => v),
      size,
      size,
      whole,
    );
    const soft = blurred(texture);
    const blurredSharpness = detailSharpness(
      rgb((_, p) => soft[p]!),
      size,
      size,
      whole,
    );
    const halfContrast = detailSharpness(
      rgb((v) => 128 + (v - 128) / 2),
      size,
      size,
      whole,
    );
    expect(blurredSharpness / sharp).toBeLessThan(0.5);
    expect(halfContrast / sharp).toBeGreaterThan(0.95);
    expect(halfContrast / sharp).toBeLessThan(1.05);
  });

  it('reads only the box it is given', () => {
    const soft = blurred(texture);
    // The left half blurred, the right half as it was.
    const halves = rgb((v, p) => (p % size < size / 2 ? soft[p]! : v));
    const left = detailSharpness(halves, size, size, { top: 0, bottom: 1, left: 0, right: 0.4 });
    const right = detailSharpness(halves, size, size, { top: 0, bottom: 1, left: 0.6, right: 1 });
    expect(left / right).toBeLessThan(0.5);
    expect(detailSharpness(new Uint8Array(size * size * 3).fill(90), size, size, whole)).toBeNaN();
  });
});

describe('evaluation on labelled crops', () => {
  let model: ExpressionModel;
  beforeAll(async () => {
    await selectBackend('wasm');
    model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 8);
  });
  afterAll(() => model.dispose());

  it('reports every metric in range over the faces of the test split', async () => {
    const progress: number[] = [];
    const report = await evaluateModel(model, {
      imagesDir: faceImages,
      labelsCsv: faceLabels,
      labelColumn: 'smiling',
      split: 'test',
      limit: 8,
      onProgress: (done) => progress.push(done),
    });
    expect(report.n).toBe(8);
    expect(report.smileOnCount + report.smileOffCount).toBe(8);
    expect(progress.at(-1)).toBe(8);
    const shares = [
      'smileOnSuccess',
      'smileOffSuccess',
      'identityKeptShare',
      'identityKeptOn',
      'identityKeptOff',
      'judgeAgreement',
      'smileOnCeiling',
      'smileOffCeiling',
      'mouthSharpnessKept',
      'mouthSharpnessKeptOn',
      'mouthSharpnessKeptOff',
      'ssim',
    ] as const;
    for (const key of shares) {
      expect(report[key], key).toBeGreaterThanOrEqual(0);
      expect(report[key], key).toBeLessThanOrEqual(1);
    }
    // An untrained model reconstructs nothing: the measurement must say so.
    expect(report.psnr).toBeLessThan(15);
    expect(report.identityDistanceMedian).toBeGreaterThanOrEqual(0);
    // The classifier reads real CelebA labels far better than chance.
    expect(report.judgeAgreement).toBeGreaterThan(0.6);
    // The per-direction ceilings split that agreement between smiling faces (smile-off edits) and neutral ones.
    const kept = report.identityKeptOn * report.smileOnCount + report.identityKeptOff * report.smileOffCount;
    expect(kept).toBeCloseTo(report.identityKeptShare * report.n, 6);
    const agreed = report.smileOnCeiling * report.smileOffCount + report.smileOffCeiling * report.smileOnCount;
    expect(agreed).toBeCloseTo(report.judgeAgreement * report.n, 6);
    const sharp =
      report.mouthSharpnessKeptOn * report.smileOnCount + report.mouthSharpnessKeptOff * report.smileOffCount;
    expect(sharp).toBeCloseTo(report.mouthSharpnessKept * report.n, 6);
    expect(report.mouthSharpnessMedian).toBeGreaterThan(0);
  });

  it("sees a mouth redrawn at the model's size lose the photo's sharpness", async () => {
    const shipped = await ExpressionModel.load(defaultModelPath());
    try {
      const smiling = {
        imagesDir: faceImages,
        labelsCsv: faceLabels,
        labelColumn: 'smiling',
        split: 'test',
        limit: 6,
        where: { column: 'smiling', value: '1' },
      };
      // Added to the photo, the change keeps its detail; handed over from the first level, the 64 px drawing replaces it.
      const added = await evaluateModel(shipped, smiling);
      const redrawn = await evaluateModel(shipped, { ...smiling, handover: [0, 1] });
      expect(added.smileOffCount).toBe(6);
      expect(added.mouthSharpnessMedian).toBeGreaterThan(sharpnessKeptAt);
      expect(redrawn.mouthSharpnessMedian).toBeLessThan(added.mouthSharpnessMedian - 0.15);
      expect(redrawn.mouthSharpnessKeptOff).toBeLessThan(added.mouthSharpnessKeptOff);
    } finally {
      shipped.dispose();
    }
  });
});

describe('the latent probe', () => {
  let model: ExpressionModel;
  let folder: string;
  beforeAll(async () => {
    await selectBackend('wasm');
    model = await ExpressionModel.load(defaultModelPath());
    folder = await mkdtemp(path.join(os.tmpdir(), 'mien-probe-'));
  });
  afterAll(async () => {
    model.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  const probe = (labelsCsv: string, labelColumn: string) =>
    probeLatent(model, { imagesDir: faceImages, labelsCsv, labelColumn, trainFaces: 400, testFaces: 200, steps: 300 });

  it('reads from the codes what they must carry, and nothing from a label they cannot carry', async () => {
    const [header, ...rows] = (await readFile(faceLabels, 'utf8')).trim().split('\n');
    const splitColumn = header!.split(',').indexOf('split');
    const used = ['train', 'test'].flatMap((split) =>
      rows.filter((row) => row.split(',')[splitColumn] === split).slice(0, split === 'train' ? 400 : 200),
    );
    const withLabel = async (name: string, label: (i: number) => number) => {
      const lines = used.map((row, i) => row.replace(/^([^,]+),[^,]*/, `$1,${label(i)}`));
      const csv = path.join(folder, `${name}.csv`);
      await writeFile(csv, [header, ...lines].join('\n'));
      return probe(csv, 'smiling');
    };
    // A code that reconstructs a face must carry how bright it is: a fresh classifier reads that on other people.
    const brightness = await Promise.all(
      used.map(async (row) => (await sharp(path.join(faceImages, row.split(',')[0]!)).stats()).channels[0]!.mean),
    );
    const median = [...brightness].sort((a, b) => a - b)[brightness.length >> 1]!;
    const bright = await withLabel('bright', (i) => (brightness[i]! > median ? 1 : 0));
    expect(bright.testFaces).toBe(200);
    expect(bright.probeAccuracy).toBeGreaterThan(bright.chance + 0.2);
    // A label drawn at random has nothing to read. (Counted from here: the first probe warmed the layers' caches.)
    const before = tf.memory().numTensors;
    const random = seededRandom(3);
    const noise = await withLabel('noise', () => (random() < 0.5 ? 0 : 1));
    expect(noise.probeAccuracy).toBeLessThan(noise.chance + 0.08);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("the probe's strongest column", () => {
  it('is the 0/1 column that agrees with the label, or disagrees, most often', () => {
    const labels = Float32Array.from([1, 1, 0, 0, 1, 0, 0.8, 0.2]);
    const columns = new Map([
      ['file', ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']],
      ['identity', ['1', '0', '2', '0', '1', '0', '1', '0']],
      ['Cheeks', ['1', '1', '0', '0', '0', '0', '1', '1']],
      ['Frown', ['0', '0', '1', '1', '0', '1', '0', '0']],
    ]);
    // Cheeks agrees on 6 of 8 faces; Frown disagrees on 7 of 8, which tells the label as well.
    expect(strongestColumn(columns, labels)).toEqual({ column: 'Frown', accuracy: 7 / 8 });
    columns.delete('Frown');
    expect(strongestColumn(columns, labels)).toEqual({ column: 'Cheeks', accuracy: 6 / 8 });
    columns.delete('Cheeks');
    expect(strongestColumn(columns, labels)).toBeUndefined();
  });
});

describe("the probe within the strongest column's groups", () => {
  it("gives its accuracy on each group's faces against that group's larger class", () => {
    const values = ['0', '0', '0', '0', '1', '1', ' 1', '1'];
    const labels = Float32Array.from([0, 0, 0, 1, 1, 1, 0.9, 0]);
    const predicted = [0, 0, 1, 1, 1, 1, 1, 1];
    expect(columnGroups(values, labels, predicted)).toEqual([
      { value: '0', faces: 4, probeAccuracy: 3 / 4, majority: 3 / 4 },
      { value: '1', faces: 4, probeAccuracy: 3 / 4, majority: 3 / 4 },
    ]);
    // A probe that reads the label inside each group beats the groups' majorities.
    expect(columnGroups(values, labels, [0, 0, 0, 1, 1, 1, 1, 0]).map((g) => g.probeAccuracy)).toEqual([1, 1]);
  });
});
