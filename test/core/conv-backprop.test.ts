import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, beforeAll } from 'vitest';
import { registerWasmGradients, registeredWasmKernels } from '../../src-main/core/backend/wasm-gradients.js';
import { conv2dBackpropFilter, type FilterGradientForm } from '../../src-main/core/backend/conv-backprop.js';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { seededRandom } from '../helpers/random.js';

interface Case {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  pad: 'same' | 'valid';
}

/** Gradients of sum(conv2d(x, w) * r) with respect to x and w, on one backend. */
async function gradientsOn(backend: string, c: Case, values: Float32Array[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const [xv, wv] = values as [Float32Array, Float32Array, Float32Array];
  const x = tf.tensor4d(xv, [c.batch, c.height, c.width, c.inChannels]);
  const w = tf.tensor4d(wv, [c.kernel, c.kernel, c.inChannels, c.outChannels]);
  const probe = tf.conv2d(x, w, c.stride, c.pad);
  const outShape = probe.shape;
  probe.dispose();
  const r = tf.tensor(
    values[2]!.subarray(
      0,
      outShape.reduce((a, b) => a * b),
    ),
    outShape,
  );
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r)),
  )([x, w]);
  const out = await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>));
  tf.dispose([x, w, r, ...grads]);
  return out;
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

const random = seededRandom(7);
const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;

const fixedCases: Case[] = [
  { batch: 1, height: 8, width: 8, inChannels: 3, outChannels: 4, kernel: 4, stride: 2, pad: 'same' },
  { batch: 3, height: 7, width: 9, inChannels: 5, outChannels: 2, kernel: 4, stride: 2, pad: 'same' },
  { batch: 2, height: 5, width: 5, inChannels: 4, outChannels: 6, kernel: 4, stride: 1, pad: 'same' },
  { batch: 2, height: 9, width: 6, inChannels: 3, outChannels: 3, kernel: 3, stride: 2, pad: 'valid' },
  { batch: 1, height: 11, width: 11, inChannels: 2, outChannels: 5, kernel: 3, stride: 1, pad: 'same' },
  { batch: 2, height: 6, width: 6, inChannels: 2, outChannels: 2, kernel: 1, stride: 2, pad: 'same' },
  { batch: 2, height: 13, width: 10, inChannels: 3, outChannels: 4, kernel: 5, stride: 3, pad: 'same' },
];
const randomCases: Case[] = Array.from({ length: 12 }, () => ({
  batch: pick([1, 2, 4]),
  height: pick([4, 5, 7, 8, 12, 15, 16]),
  width: pick([4, 6, 7, 9, 16]),
  inChannels: pick([1, 3, 8, 13]),
  outChannels: pick([1, 4, 7, 16]),
  kernel: pick([2, 3, 4]),
  stride: pick([1, 2]),
  pad: pick(['same', 'valid'] as const),
}));

describe('WebAssembly convolution gradients', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
    registerWasmGradients();
  });

  it('registers the kernels the WebAssembly backend lacks', () => {
    for (const name of registeredWasmKernels) expect(tf.getKernel(name, 'wasm')).toBeDefined();
  });

  it.each([...fixedCases, ...randomCases])('match the CPU backend: %o', async (c) => {
    if (c.pad === 'valid' && (c.height < c.kernel || c.width < c.kernel)) return;
    const size = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
    const values = [
      size(c.batch * c.height * c.width * c.inChannels),
      size(c.kernel * c.kernel * c.inChannels * c.outChannels),
      size(c.batch * c.height * c.width * c.outChannels),
    ];
    const expected = await gradientsOn('cpu', c, values);
    const before = tf.memory().numTensors;
    const actual = await gradientsOn('wasm', c, values);
    expect(tf.memory().numTensors).toBe(before);
    expect(relativeError(actual[0]!, expected[0]!)).toBeLessThan(1e-5);
    expect(relativeError(actual[1]!, expected[1]!)).toBeLessThan(1e-5);
  });

  it.each(
    fixedCases.flatMap((c) => (['convolution', 'product'] as FilterGradientForm[]).map((form) => [form, c] as const)),
  )('computes the filter gradient as a %s like the CPU backend: %o', async (form, c) => {
    const x = Float32Array.from({ length: c.batch * c.height * c.width * c.inChannels }, () => random() * 2 - 1);
    const w = Float32Array.from({ length: c.kernel * c.kernel * c.inChannels * c.outChannels }, () => random() * 2 - 1);
    const r = Float32Array.from({ length: c.batch * c.height * c.width * c.outChannels }, () => random() * 2 - 1);
    if (c.pad === 'valid' && (c.height < c.kernel || c.width < c.kernel)) return;
    const expected = (await gradientsOn('cpu', c, [x, w, r]))[1]!;
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const xt = tf.tensor4d(x, [c.batch, c.height, c.width, c.inChannels]);
    const outShape = tf.tidy(
      () => tf.conv2d(xt, tf.tensor4d(w, [c.kernel, c.kernel, c.inChannels, c.outChannels]), c.stride, c.pad).shape,
    );
    const dy = tf.tensor(
      r.subarray(
        0,
        outShape.reduce((a, b) => a * b),
      ),
      outShape,
    );
    const attrs = {
      strides: c.stride,
      pad: c.pad,
      dataFormat: 'NHWC',
      filterShape: [c.kernel, c.kernel, c.inChannels, c.outChannels],
    };
    const info = conv2dBackpropFilter(tf.backend(), 'wasm', xt, dy, attrs as never, form);
    const gradient = tf.engine().makeTensorFromTensorInfo(info);
    const actual = (await gradient.data()) as Float32Array;
    tf.dispose([xt, dy, gradient]);
    expect(tf.memory().numTensors).toBe(before);
    expect(relativeError(actual, expected)).toBeLessThan(1e-5);
  });

  it('computes conv2dTranspose (the Fader decoder) like the CPU backend', async () => {
    const x = size(2 * 5 * 5 * 6);
    const w = size(4 * 4 * 3 * 6);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const y = tf.conv2dTranspose(
        tf.tensor4d(x, [2, 5, 5, 6]),
        tf.tensor4d(w, [4, 4, 3, 6]),
        [2, 10, 10, 3],
        2,
        'same',
      );
      const data = (await y.data()) as Float32Array;
      y.dispose();
      return data;
    };
    const expected = await run('cpu');
    expect(relativeError(await run('wasm'), expected)).toBeLessThan(1e-5);
    function size(n: number) {
      return Float32Array.from({ length: n }, () => random() * 2 - 1);
    }
  });

  it.each([
    [false, false, 1],
    [true, false, 1],
    [false, true, 1],
    [true, true, 1],
    [true, false, 3],
    [false, true, 3],
  ])('computes matMul with transposeA=%s transposeB=%s (batch %i) like the CPU backend', async (ta, tb, batch) => {
    const [m, k, n] = [7, 300, 5];
    const aShape = batch === 1 ? (ta ? [k, m] : [m, k]) : ta ? [batch, k, m] : [batch, m, k];
    const bShape = batch === 1 ? (tb ? [n, k] : [k, n]) : tb ? [batch, n, k] : [batch, k, n];
    const a = Float32Array.from({ length: aShape.reduce((x, y) => x * y) }, () => random() * 2 - 1);
    const b = Float32Array.from({ length: bShape.reduce((x, y) => x * y) }, () => random() * 2 - 1);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const y = tf.tidy(() => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), ta, tb));
      const data = (await y.data()) as Float32Array;
      expect(y.shape).toEqual(batch === 1 ? [m, n] : [batch, m, n]);
      y.dispose();
      return data;
    };
    const expected = await run('cpu');
    const before = tf.memory().numTensors;
    const actual = await run('wasm');
    expect(tf.memory().numTensors).toBe(before);
    expect(relativeError(actual, expected)).toBeLessThan(1e-5);
  });

  it('slices, splits, unstacks, concatenates and pads exactly like the CPU backend, along every axis and for every dtype', async () => {
    const shape = [3, 4, 5, 6];
    const values = Array.from({ length: 360 }, () => Math.round((random() * 2 - 1) * 1000));
    const withExtent = (axis: number, extent: number) => shape.map((d, i) => (i === axis ? extent : d));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const results = tf.tidy(() => {
        const parts: tf.Tensor[] = [];
        for (const dtype of ['float32', 'int32', 'bool'] as const) {
          const x = tf.tensor(values, shape, dtype);
          parts.push(tf.slice(x, [1, 0, 0, 0], [2, 4, 5, 6])); // contiguous
          parts.push(tf.slice(x, [0, 1, 2, 3], [3, 2, 3, 2])); // short inner rows
          for (let axis = 0; axis < 4; axis++) {
            parts.push(...tf.split(x, [1, shape[axis]! - 1], axis));
            parts.push(...tf.unstack(x, axis));
            const one = tf.slice(x, [0, 0, 0, 0], withExtent(axis, 1));
            const empty = tf.slice(x, [0, 0, 0, 0], withExtent(axis, 0));
            parts.push(tf.concat([x, one, empty, x], axis));
          }
          const paddings: [number, number][] = [
            [1, 0],
            [0, 2],
            [1, 1],
            [0, 0],
          ];
          parts.push(tf.pad(x, paddings, dtype === 'float32' ? 1.5 : 0));
          parts.push(
            tf.pad(x, [
              [0, 0],
              [0, 0],
              [0, 0],
              [2, 1],
            ]),
          );
        }
        return parts;
      });
      const data = await Promise.all(
        results.map(async (t) => ({ shape: t.shape, dtype: t.dtype, data: await t.data() })),
      );
      tf.dispose(results);
      return data;
    };
    const expected = await run('cpu');
    const before = tf.memory().numTensors;
    const actual = await run('wasm');
    expect(tf.memory().numTensors).toBe(before);
    expect(actual.length).toBe(expected.length);
    actual.forEach((a, i) => {
      expect(a.shape).toEqual(expected[i]!.shape);
      expect(a.dtype).toBe(expected[i]!.dtype);
      expect(Array.from(a.data)).toEqual(Array.from(expected[i]!.data));
    });
  });

  it('gives concat and stack (whose gradients split and unstack) the CPU backend gradients', async () => {
    const a = Float32Array.from({ length: 2 * 3 * 4 * 5 }, () => random() * 2 - 1);
    const weights = Float32Array.from({ length: 2 * 3 * 4 * 15 }, () => random() * 2 - 1);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const grads = tf.tidy(() => {
        const x = tf.tensor4d(a, [2, 3, 4, 5]);
        const y = tf.mul(x, 2);
        const w = tf.tensor(weights);
        const concatenated = (t: tf.Tensor) => tf.sum(tf.mul(tf.reshape(tf.concat([t, tf.square(t), y], 3), [-1]), w));
        const stacked = (t: tf.Tensor) => tf.sum(tf.mul(tf.reshape(tf.stack([t, tf.square(t), y], 2), [-1]), w));
        return [tf.grad(concatenated)(x), tf.grad(stacked)(x)];
      });
      const data = await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>));
      tf.dispose(grads);
      return data;
    };
    const expected = await run('cpu');
    const actual = await run('wasm');
    expect(relativeError(actual[0]!, expected[0]!)).toBeLessThan(1e-6);
    expect(relativeError(actual[1]!, expected[1]!)).toBeLessThan(1e-6);
  });
});
