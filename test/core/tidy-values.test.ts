import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { tidyValues } from '../../src-main/core/util/tidy-values.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('tidyValues', () => {
  it('reads the built tensor and keeps no tensor, intermediate or result', () => {
    const base = tf.tensor1d([1, 2, 3]);
    const before = tf.memory().numTensors;
    const values = tidyValues(() => tf.mul(tf.add(base, 1), 2));
    expect(Array.from(values)).toEqual([4, 6, 8]);
    expect(tf.memory().numTensors).toBe(before);
    base.dispose();
  });

  it('disposes the result when reading fails', () => {
    const before = tf.memory().numTensors;
    expect(() =>
      tidyValues(() => {
        const t = tf.tensor1d([1]);
        t.dataSync = () => {
          throw new Error('unreadable');
        };
        return t;
      }),
    ).toThrow('unreadable');
    expect(tf.memory().numTensors).toBe(before);
  });
});
