import { execFileSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { simplifyPermutation, swapLayout } from '../../src-main/core/backend/wasm-transpose.js';
import { FusedAdamOptimizer } from '../../src-main/core/training/fused-adam.js';
import { seededRandom } from '../helpers/random.js';

const random = seededRandom(11);
const values = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Runs `make` on one backend and returns its tensors' shapes and data, checking it leaks nothing. */
async function on(backend: string, make: () => tf.Tensor[]): Promise<{ shape: number[]; data: Float32Array }[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const results = make();
  const out = await Promise.all(results.map(async (t) => ({ shape: t.shape, data: (await t.data()) as Float32Array })));
  tf.dispose(results);
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

describe('WebAssembly kernels of our own', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('are compiled from the committed source (npm run build:kernels)', () => {
    expect(() => execFileSync('node', ['scripts/build-wasm-kernels.mjs', '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it('simplify permutations by dropping unit axes and merging neighbours', () => {
    expect(simplifyPermutation([32, 34, 34, 32], [3, 1, 2, 0])).toEqual({ shape: [32, 1156, 32], perm: [2, 1, 0] });
    expect(simplifyPermutation([32, 16, 16, 12], [1, 2, 0, 3])).toEqual({ shape: [32, 256, 12], perm: [1, 0, 2] });
    expect(simplifyPermutation([5, 1, 7], [2, 1, 0])).toEqual({ shape: [5, 7], perm: [1, 0] });
    expect(simplifyPermutation([4, 5, 6], [0, 1, 2])).toEqual({ shape: [120], perm: [0] });
    expect(swapLayout([2, 3, 4, 2, 2, 5], [0, 1, 3, 2, 4, 5])).toEqual({
      outer: 6,
      rows: 4,
      middle: 1,
      cols: 2,
      inner: 10,
    });
    // A rotation of three axes is a swap of two runs; this one is not.
    expect(swapLayout([2, 3, 4], [1, 2, 0])).toEqual({ outer: 1, rows: 2, middle: 1, cols: 12, inner: 1 });
    expect(swapLayout([2, 3, 4, 5], [2, 0, 3, 1])).toBeUndefined();
  });

  it('transpose exactly like the CPU backend, covered permutations or not', async () => {
    const cases: [number[], number[]][] = [
      [
        [37, 53],
        [1, 0],
      ],
      [
        [4, 5],
        [1, 0],
      ],
      [
        [5, 4],
        [1, 0],
      ],
      [
        [3, 130],
        [1, 0],
      ],
      [
        [1, 9],
        [1, 0],
      ],
      [
        [64, 33],
        [1, 0],
      ],
      [
        [6, 7, 9],
        [0, 2, 1],
      ],
      [
        [9, 5, 11],
        [2, 1, 0],
      ],
      [
        [5, 6, 7, 9],
        [3, 1, 2, 0],
      ],
      [
        [3, 4, 4, 6],
        [1, 2, 0, 3],
      ],
      [
        [2, 3, 5, 2, 2, 3],
        [0, 1, 3, 2, 4, 5],
      ],
      [
        [4, 4, 6, 10],
        [0, 1, 3, 2],
      ],
      [
        [3, 4, 5],
        [1, 2, 0],
      ],
      [
        [2, 3, 4, 5],
        [2, 0, 3, 1],
      ],
    ];
    const inputs = cases.map(([shape]) => values(sizeOf(shape)));
    const make = () => tf.tidy(() => cases.map(([shape, perm], i) => tf.transpose(tf.tensor(inputs[i]!, shape), perm)));
    const expected = await on('cpu', make);
    const actual = await on('wasm', make);
    actual.forEach((a, i) => {
      expect(a.shape).toEqual(expected[i]!.shape);
      expect(Array.from(a.data)).toEqual(Array.from(expected[i]!.data));
    });
  });

  it('sum over leading axes (bias gradients) like the CPU backend, and other axes through tfjs', async () => {
    const cases: [number[], number | number[], boolean][] = [
      [[4, 6, 5, 3], [0, 1, 2], false],
      [[3, 7, 13], [0, 1], true],
      [[10, 8], 0, false],
      [[2, 5, 9], [1, 0], false],
      [[4, 6, 5], [1, 2], false],
      [[4, 6, 5], 2, true],
    ];
    const inputs = cases.map(([shape]) => values(sizeOf(shape)));
    const make = () =>
      tf.tidy(() => cases.map(([shape, axis, keepDims], i) => tf.sum(tf.tensor(inputs[i]!, shape), axis, keepDims)));
    const expected = await on('cpu', make);
    const actual = await on('wasm', make);
    actual.forEach((a, i) => {
      expect(a.shape).toEqual(expected[i]!.shape);
      a.data.forEach((v, j) => expect(v).toBeCloseTo(expected[i]!.data[j]!, 4));
    });
  });

  it('multiply a small matrix by a large new one (operands swapped) like the CPU backend, then as usual', async () => {
    // [6, 400] x [400, 700]: the right operand is large and new, so the product runs as (B^T A^T)^T.
    const a = values(6 * 400);
    const b = values(400 * 700);
    const run = async (backend: string) => {
      const weights = await (async () => {
        await tf.setBackend(backend);
        return tf.tensor2d(b, [400, 700]);
      })();
      const results = await on(backend, () =>
        tf.tidy(() => {
          const left = tf.tensor2d(a, [6, 400]);
          // The same right operand twice: once swapped, once packed by XNNPACK.
          return [tf.matMul(left, weights), tf.matMul(left, weights)];
        }),
      );
      weights.dispose();
      return results;
    };
    const expected = await run('cpu');
    const actual = await run('wasm');
    for (const [i, result] of actual.entries()) {
      expect(result.shape).toEqual([6, 700]);
      result.data.forEach((v, j) => expect(v).toBeCloseTo(expected[i]!.data[j]!, 3));
    }
  });

  it('update with Adam exactly as tfjs does, with the same saved state', async () => {
    const shapes = [[1], [5], [3, 7], [4, 4, 9, 13]];
    const start = shapes.map((shape) => values(sizeOf(shape)));
    const gradients = Array.from({ length: 4 }, () => shapes.map((shape) => values(sizeOf(shape))));
    const train = async (backend: string, optimizer: tf.AdamOptimizer, prefix: string) => {
      await tf.setBackend(backend);
      const variables = tf.tidy(() =>
        shapes.map((shape, i) => tf.variable(tf.tensor(start[i]!, shape), true, `${prefix}${i}`)),
      );
      for (const step of gradients) {
        const named = tf.tidy(() =>
          Object.fromEntries(variables.map((v, i) => [v.name, tf.tensor(step[i]!, v.shape)])),
        );
        optimizer.applyGradients(named as tf.NamedTensorMap as Record<string, tf.Variable>);
        tf.dispose(Object.values(named));
      }
      const weights = await Promise.all(variables.map(async (v) => Array.from(await v.data())));
      const state = await optimizer.getWeights();
      const saved = await Promise.all(state.map(async (s) => Array.from(await s.tensor.data())));
      state[0]!.tensor.dispose();
      tf.dispose([...variables]);
      optimizer.dispose();
      return { weights, saved, names: state.map((s) => s.name.replace(prefix, '')) };
    };
    const reference = await train('wasm', tf.train.adam(0.01, 0.5, 0.999), 'tfjs');
    const before = tf.memory().numTensors;
    const fused = await train('wasm', new FusedAdamOptimizer(0.01, 0.5, 0.999), 'fused');
    expect(tf.memory().numTensors).toBe(before);
    expect(fused).toEqual(reference);
    // Elsewhere it is tfjs' own Adam.
    const onCpu = await train('cpu', new FusedAdamOptimizer(0.01, 0.5, 0.999), 'cpu');
    onCpu.weights.flat().forEach((v, j) => expect(v).toBeCloseTo(reference.weights.flat()[j]!, 5));
  });
});
