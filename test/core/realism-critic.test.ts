import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { RealismCritic, changeWeights } from '../../src-main/core/training/realism-critic.js';
import { seededRandom } from '../helpers/random.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

const size = 32;

/** Real faces whose label shows: the lower half bright when labelled 1, dark when 0; labels alternate. */
function realFaces(count: number, seed: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  const random = seededRandom(seed);
  const values = new Float32Array(count * size * size * 3);
  for (let i = 0; i < values.length; i++) {
    const face = Math.floor(i / (size * size * 3));
    const lower = i % (size * size * 3) >= (size * size * 3) / 2;
    const base = lower ? (face % 2 ? 0.6 : -0.6) : 0;
    values[i] = base + (random() - 0.5) * 0.6;
  }
  const labels = Float32Array.from({ length: count }, (_, i) => i % 2);
  return { images: tf.tensor4d(values, [count, size, size, 3]), labels: tf.tensor1d(labels) };
}

/** The critic's mean probability that each face is real and shows `labels`. */
function realness(critic: RealismCritic, images: tf.Tensor4D, labels: tf.Tensor1D): number {
  return tf.tidy(() => tf.mean(tf.sigmoid(critic.logits(images, labels))).dataSync()[0]!);
}

describe('the realism critic', () => {
  it('takes a real face shown with the wrong label for an edit, not for a real face', () => {
    const critic = new RealismCritic(4);
    const optimizer = tf.train.adam(2e-3, 0.5);
    const real = realFaces(16, 1);
    // Edits that fail to show their target: plain noise with no lower half to read.
    const edited = tf.randomUniform([16, size, size, 3], -0.5, 0.5, 'float32', 2) as tf.Tensor4D;
    const targets = tf.tensor1d(Float32Array.from({ length: 16 }, (_, i) => 1 - (i % 2)));
    const before = tf.memory().numTensors;
    let loss = 0;
    for (let step = 0; step < 80; step++) {
      const { value, grads } = tf.variableGrads(() => critic.loss(real.images, real.labels, edited, targets));
      optimizer.applyGradients(grads as Record<string, tf.Variable>);
      loss = value.dataSync()[0]!;
      tf.dispose([value, grads]);
    }
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(2 * critic.variables().length + 1); // Adam's moments
    expect(loss).toBeLessThan(0.5); // 1.39 at chance

    const unseen = realFaces(8, 9);
    const flipped = tf.sub(1, unseen.labels) as tf.Tensor1D;
    expect(realness(critic, unseen.images, unseen.labels)).toBeGreaterThan(0.8);
    expect(realness(critic, unseen.images, flipped)).toBeLessThan(0.2);
    tf.dispose([real.images, real.labels, edited, targets, unseen.images, unseen.labels, flipped]);
    optimizer.dispose();
    critic.dispose();
  });

  it('judges where an edit changed the face: patch weights follow the change and carry no gradient', () => {
    const real = tf.zeros([2, size, size, 3]) as tf.Tensor4D;
    // The first face is changed in one 8x8 patch (row 2, column 1), the second everywhere alike.
    const values = new Float32Array(2 * size * size * 3);
    for (let y = 16; y < 24; y++)
      for (let x = 8; x < 16; x++) values.fill(0.5, (y * size + x) * 3, (y * size + x) * 3 + 3);
    values.fill(0.2, size * size * 3);
    const edited = tf.tensor4d(values, [2, size, size, 3]);
    const weights = changeWeights(real, edited);
    expect(weights.shape).toEqual([2, size / 8, size / 8, 1]);
    const [first, second] = weights.arraySync().map((face) => face.flat(2));
    expect(first![2 * 4 + 1]).toBeCloseTo(16, 2); // all of the first face's weight, 16 patches' worth
    expect(first!.filter((w) => w > 0)).toHaveLength(1);
    second!.forEach((w) => expect(w).toBeCloseTo(1, 3));
    // A patch's weight is a constant to the gradient, not a function of the edit.
    const onePatch = (x: tf.Tensor): tf.Scalar =>
      tf.sum(tf.slice(changeWeights(real, x as tf.Tensor4D), [0, 2, 1, 0], [1, 1, 1, 1]));
    expect(() => tf.grad(onePatch)(edited)).toThrow(/Cannot compute gradient/);
    tf.dispose([real, edited, weights]);
  });
});
