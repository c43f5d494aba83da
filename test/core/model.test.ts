import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { CheckpointError, readCheckpoint } from '../../src-main/core/model/checkpoint.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import {
  conv2x,
  conv2xLeakyFused,
  conv2xWindows,
  labelPlanes,
  leakyRelu,
  splitLabelChannel,
  splitPhases,
  upsampleConv,
  upsampleConvFilter,
  upsampleConvReference,
  upsampleConvTaps,
  upsampleConvTapWeights,
} from '../../src-main/core/model/layers.js';
import { GradientHelper } from '../../src-main/core/training/gradient-helper.js';
import { StepRunner } from '../../src-main/core/training/step.js';
import { seededRandom } from '../helpers/random.js';

const random = seededRandom(11);
const values = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('presets', () => {
  it.each([
    // Counts measured with PyTorch renderings of both models (docs/model.md).
    ['paper', 5.6e6, 1.31e6],
    ['fader', 14.0e6, 8.66e6],
  ] as const)('%s at 256 px has the reference parameter counts', (preset, autoencoder, discriminator) => {
    const model = ExpressionModel.create({ preset, size: 256, attribute: 'smiling' });
    const counts = model.parameterCounts();
    model.dispose();
    expect(Math.abs(counts.autoencoder - autoencoder) / autoencoder).toBeLessThan(0.005);
    expect(Math.abs(counts.discriminator - discriminator) / discriminator).toBeLessThan(0.005);
  });

  it('keeps the paper latent at 2x2x512 at every size', () => {
    for (const size of [64, 128] as const) {
      const model = ExpressionModel.create({ preset: 'paper', size, attribute: 'smiling' });
      const z = tf.tidy(() => model.network.encode(tf.zeros([1, size, size, 3])));
      expect(z.shape).toEqual([1, 2, 2, 512]);
      z.dispose();
      model.dispose();
    }
  });
});

type ConvForm = (x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D) => tf.Tensor4D;

/** A faster form of upsample + 4x4 conv gives the plain composition's values and gradients. */
function expectPlainComposition(form: ConvForm, xShape: number[], outChannels: number): void {
  expectSameConvolution(form, upsampleConvReference, xShape, [4, 4, xShape[3]!, outChannels], 1e-3);
}

describe('faster forms of nearest-upsample convolution', () => {
  afterEach(async () => {
    await tf.setBackend('wasm');
  });

  it.each([
    ['wasm', 'each phase with its own taps', 'relu'],
    ['wasm', 'the fused 3x3 filter', 'tanh'],
    ['cpu', 'each phase with its own taps', 'tanh'],
    ['cpu', 'the fused 3x3 filter', 'relu'],
  ] as const)('%s: %s equals upsample + 4x4 conv, then %s, values and gradients', async (backend, form, activation) => {
    await tf.setBackend(backend);
    const phases: ConvForm = (x, w, b) => {
      const fused = upsampleConvFilter(w);
      return form === 'the fused 3x3 filter'
        ? upsampleConv(x, [fused], tf.tile(b, [4]), undefined, activation)
        : upsampleConv(x, splitPhases(fused), b, undefined, activation);
    };
    const plain: ConvForm = (x, w, b) => {
      const convolved = upsampleConvReference(x, w, b);
      return activation === 'relu' ? tf.relu(convolved) : tf.tanh(convolved);
    };
    expectSameConvolution(phases, plain, [2, 5, 7, 6], [4, 4, 6, 3], 1e-3);
  });

  it('splits the fused filter into 3x3, 3x2, 2x3 and 2x2 phase filters: 25 of its 36 taps', () => {
    const phases = splitPhases(tf.zeros([3, 3, 5, 4 * 7]) as tf.Tensor4D);
    expect(phases.map((p) => p.shape)).toEqual([
      [3, 3, 5, 7],
      [3, 2, 5, 7],
      [2, 3, 5, 7],
      [2, 2, 5, 7],
    ]);
    tf.dispose(phases);
  });

  it.each(['wasm', 'cpu'])(
    'the label channel split off the fused filter gives the result of the concatenated plane (%s)',
    async (backend) => {
      await tf.setBackend(backend);
      const labels = tf.tensor1d([0.3, -1.2]);
      // The filter's last input channel reads the label plane.
      const split = (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) => {
        const [, h, wd] = x.shape;
        const { features, labelMap } = splitLabelChannel(upsampleConvFilter(w), h, wd);
        const share = tf.mul(tf.reshape(labels, [2, 1, 1, 1]), labelMap) as tf.Tensor4D;
        return upsampleConv(x, splitPhases(features), b, share, 'relu');
      };
      const concatenated = (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) =>
        tf.relu(upsampleConvReference(tf.concat([x, labelPlanes(labels, x.shape[1], x.shape[2], 1)], 3), w, b));
      expectSameConvolution(split, concatenated, [2, 5, 6, 4], [4, 4, 5, 3]);
      labels.dispose();
    },
  );

  it.each([
    ['wasm', 2, 2],
    ['wasm', 4, 4],
    ['cpu', 2, 3],
  ] as const)('per-tap products equal upsample + 4x4 conv, values and gradients (%s, %ix%i)', async (backend, h, w) => {
    await tf.setBackend(backend);
    expectPlainComposition((x, f, b) => upsampleConvTaps(x, upsampleConvTapWeights(f), b), [3, h, w, 7], 5);
  });
});

/**
 * Values and input and filter gradients of two convolution forms on the same
 * random data; the filter gradient sums over the most products, so it may be
 * given its own tolerance.
 */
function expectSameConvolution(
  form: ConvForm,
  reference: ConvForm,
  xShape: number[],
  filterShape: number[],
  filterGradientTolerance = 1e-4,
): void {
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(values(size(xShape)), xShape as [number, number, number, number]);
  const w = tf.tensor4d(values(size(filterShape)), filterShape as [number, number, number, number]);
  const b = tf.tensor1d(values(filterShape[3]!));
  const ref = reference(x, w, b);
  const r = tf.tensor(values(ref.size), ref.shape);
  const weighted = (f: ConvForm) => (xx: tf.Tensor, ww: tf.Tensor) =>
    tf.sum(tf.mul(f(xx as tf.Tensor4D, ww as tf.Tensor4D, b), r));
  const a = tf.grads(weighted(form))([x, w]);
  const e = tf.grads(weighted(reference))([x, w]);
  const out = form(x, w, b);
  expect(out.shape).toEqual(ref.shape);
  expect(tf.max(tf.abs(tf.sub(out, ref))).dataSync()[0]).toBeLessThan(1e-4);
  expect(tf.max(tf.abs(tf.sub(a[0]!, e[0]!))).dataSync()[0]).toBeLessThan(1e-4);
  expect(tf.max(tf.abs(tf.sub(a[1]!, e[1]!))).dataSync()[0]).toBeLessThan(filterGradientTolerance);
  tf.dispose([x, w, b, r, ...a, ...e, out, ref]);
}

describe('faster forms of the encoder layers', () => {
  afterEach(async () => {
    await tf.setBackend('wasm');
  });

  it.each([
    ['wasm', [3, 4, 4, 6]],
    ['wasm', [2, 2, 2, 5]],
    ['cpu', [2, 3, 5, 4]],
  ] as const)(
    'the window form equals the stride-2 convolution, values and gradients (%s, %j)',
    async (backend, xShape) => {
      await tf.setBackend(backend);
      expectSameConvolution(conv2xWindows, conv2x, [...xShape], [4, 4, xShape[3], 7]);
    },
  );

  it.each(['wasm', 'cpu'])(
    'the fused inference layer equals the convolution, then leaky ReLU (%s)',
    async (backend) => {
      await tf.setBackend(backend);
      const x = tf.tensor4d(values(2 * 7 * 6 * 5), [2, 7, 6, 5]);
      const filter = tf.tensor4d(values(16 * 5 * 9), [4, 4, 5, 9]);
      const bias = tf.tensor1d(values(9));
      const gap = tf.tidy(() => {
        const fused = conv2xLeakyFused(x, filter, bias);
        const plain = leakyRelu(conv2x(x, filter, bias));
        expect(fused.shape).toEqual(plain.shape);
        return tf.max(tf.abs(tf.sub(fused, plain))).dataSync()[0]!;
      });
      expect(gap).toBeLessThan(1e-5);
      tf.dispose([x, filter, bias]);
    },
  );

  it.each(['wasm', 'cpu'])('leaky ReLU equals tfjs own, values and gradient, zero included (%s)', async (backend) => {
    await tf.setBackend(backend);
    const x = tf.tensor2d([...values(63), 0], [8, 8]);
    const dy = tf.tensor2d(values(64), [8, 8]);
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(leakyRelu(t), dy)))(x);
    const theirs = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(t, 0.2), dy)))(x);
    // Equal up to float32 rounding: tfjs multiplies by 0.2 in double precision, PReLU by its float32 slope.
    const gap = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
    expect(gap(leakyRelu(x), tf.leakyRelu(x, 0.2))).toBeLessThan(1e-7);
    expect(gap(ours, theirs)).toBeLessThan(1e-7);
    expect(ours.dataSync()[63]).toBeCloseTo(0.2 * dy.dataSync()[63]!, 6);
    tf.dispose([x, dy, ours, theirs]);
  });
});

describe('ExpressionModel', () => {
  it.each(['paper', 'fader'] as const)(
    '%s: predict maps labels to different images in [-1, 1], any real label',
    (preset) => {
      const model = ExpressionModel.create({ preset, size: 64, attribute: 'smiling' });
      const images = tf.tensor4d(values(2 * 64 * 64 * 3), [2, 64, 64, 3]);
      const [neutral, smiling, strong] = model.predictMany(images, [
        [0, 0],
        [1, 1],
        [1.5, -0.5],
      ]);
      expect(neutral!.shape).toEqual([2, 64, 64, 3]);
      const range = tf.tidy(() => [tf.min(smiling!).dataSync()[0]!, tf.max(smiling!).dataSync()[0]!]);
      expect(range[0]).toBeGreaterThanOrEqual(-1);
      expect(range[1]).toBeLessThanOrEqual(1);
      const difference = tf.tidy(() => tf.mean(tf.abs(tf.sub(neutral!, smiling!))).dataSync()[0]!);
      expect(difference).toBeGreaterThan(0);
      expect(tf.tidy(() => tf.mean(tf.abs(tf.sub(strong!, smiling!))).dataSync()[0]!)).toBeGreaterThan(0);
      tf.dispose([images, neutral, smiling, strong]);
      model.dispose();
    },
  );

  it('encodes and decodes alike in training and at inference, whose cached filters take other forms', () => {
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' });
    const images = tf.tensor4d(values(2 * 64 * 64 * 3), [2, 64, 64, 3]);
    const gaps = tf.tidy(() => {
      const z = model.network.encode(images, true);
      const labels = tf.tensor1d([0.3, 1.4]);
      const trained = model.network.decode(z, labels, true);
      const inferred = model.network.decode(model.network.encode(images, false), labels, false);
      return [
        tf.max(tf.abs(tf.sub(z, model.network.encode(images, false)))).dataSync()[0]!,
        tf.max(tf.abs(tf.sub(trained, inferred))).dataSync()[0]!,
      ];
    });
    expect(gaps[0]).toBeLessThan(1e-4);
    expect(gaps[1]).toBeLessThan(1e-4);
    images.dispose();
    model.dispose();
  });

  it('refuses wrong inputs with a clear message', () => {
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' });
    const wrong = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    const right = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
    expect(() => model.predict(wrong, [1])).toThrow(/64x64x3/);
    expect(() => model.predict(right, [1, 0])).toThrow(/expected 1 labels/);
    expect(() => model.predict(right, [NaN])).toThrow(/finite/);
    tf.dispose([wrong, right]);
    model.dispose();
  });

  it.each(['paper', 'fader'] as const)(
    '%s: leaks no tensors across inference, training steps and checkpoints',
    async (preset) => {
      const model = ExpressionModel.create({ preset, size: 64, attribute: 'smiling' });
      const helper = await GradientHelper.start(model.config, 'wasm');
      const stepper = new StepRunner(model.network, 0.5, 0.999, 2e-4, helper);
      const images = values(8 * 64 * 64 * 3);
      const labels = Float32Array.from([0, 1, 0, 1, 1, 0, 1, 0]);
      const batch = tf.tensor4d(images.subarray(0, 4 * 64 * 64 * 3), [4, 64, 64, 3]);
      const exercise = async () => {
        await stepper.run(images, labels, 1e-4, 2e-4);
        model.predict(batch, [0, 1, 1, 0]).dispose();
        tf.dispose(
          model.predictMany(batch, [
            [0, 0, 0, 0],
            [1, 1, 1, 1],
          ]),
        );
        model.attributeProbability(batch).dispose();
        await stepper.exportState(); // what every checkpoint saves
      };
      await exercise(); // the first step creates the optimisers' state
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) await exercise();
      expect(tf.memory().numTensors).toBe(before);
      batch.dispose();
      stepper.dispose();
      model.dispose();
    },
  );
});

describe('checkpoints', () => {
  it('round-trips a model exactly (float32) and closely (float16)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-ckpt-'));
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 5);
    const images = tf.tensor4d(values(2 * 64 * 64 * 3), [2, 64, 64, 3]);
    const expected = model.predict(images, [0, 1]);
    await model.save(path.join(dir, 'full.mien'), { note: 'test' });
    await model.save(path.join(dir, 'half.mien'), {}, true);
    const full = await ExpressionModel.load(path.join(dir, 'full.mien'));
    const half = await ExpressionModel.load(path.join(dir, 'half.mien'));
    expect(full.meta).toEqual({ note: 'test' });
    const fromFull = full.predict(images, [0, 1]);
    const fromHalf = half.predict(images, [0, 1]);
    expect(tf.max(tf.abs(tf.sub(fromFull, expected))).dataSync()[0]).toBe(0);
    expect(tf.max(tf.abs(tf.sub(fromHalf, expected))).dataSync()[0]).toBeLessThan(0.02);
    const sizes = await Promise.all(['full', 'half'].map((n) => readFile(path.join(dir, `${n}.mien`))));
    expect(sizes[1]!.byteLength).toBeLessThan(sizes[0]!.byteLength * 0.55);
    tf.dispose([images, expected, fromFull, fromHalf]);
    [model, full, half].forEach((m) => m.dispose());
  });

  it('refuses damaged, foreign and mismatched files with the file named', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-ckpt-'));
    const file = path.join(dir, 'model.mien');
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' });
    await model.save(file);
    model.dispose();
    const bytes = await readFile(file);

    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 100] = flipped[flipped.length - 100]! ^ 0xff;
    await writeFile(path.join(dir, 'flipped.mien'), flipped);
    await expect(readCheckpoint(path.join(dir, 'flipped.mien'))).rejects.toThrow(/flipped\.mien.*checksum/);

    await writeFile(path.join(dir, 'truncated.mien'), bytes.subarray(0, 1000));
    await expect(readCheckpoint(path.join(dir, 'truncated.mien'))).rejects.toThrow(CheckpointError);

    await writeFile(path.join(dir, 'text.mien'), 'hello');
    await expect(readCheckpoint(path.join(dir, 'text.mien'))).rejects.toThrow(/not a Mien checkpoint/);

    await expect(readCheckpoint(path.join(dir, 'missing.mien'))).rejects.toThrow(/missing\.mien: file not found/);

    await expect(ExpressionModel.load(file, { preset: 'fader' })).rejects.toThrow(/is a paper model, expected fader/);
    await expect(ExpressionModel.load(file, { size: 128 })).rejects.toThrow(/is a 64 px model, expected 128 px/);
  });
});
