import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { BatchSampler } from '../../src-main/core/training/batches.js';
import type { FaceDataset } from '../../src-main/core/training/dataset.js';
import { ExpressionClassifier } from '../../src-main/core/training/expression-classifier.js';
import { seededRandom } from '../helpers/random.js';

beforeAll(async () => {
  await selectBackend('wasm');
});

/** Faces whose label is visible: the lower half (the "mouth") is bright when labelled 1, dark when 0. */
function visibleLabels(count: number): FaceDataset {
  const size = 64;
  const random = seededRandom(5);
  const images = new Uint8Array(count * size * size * 3);
  const labels = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 2;
    for (let p = 0; p < size * size * 3; p++) {
      const lower = p >= (size * size * 3) / 2;
      const base = lower ? (labels[i] ? 200 : 60) : 128;
      images[i * size * size * 3 + p] = Math.max(0, Math.min(255, base + (random() - 0.5) * 120));
    }
  }
  return { size, count, images, labels, files: [], skipped: [], fingerprint: 'visible-labels' };
}

describe('the expression classifier', () => {
  it('learns to read a label that shows in the image, and exports and imports its weights', async () => {
    const data = visibleLabels(32);
    const sampler = new BatchSampler(data, 16, 1, { flip: true, brightness: 0.05 });
    const classifier = new ExpressionClassifier(64, 2);
    const before = tf.memory().numTensors;
    const reports: number[] = [];
    const accuracy = await classifier.train(sampler, 60, (step) => reports.push(step));
    expect(tf.memory().numTensors).toBe(before);
    expect(reports).toEqual([50, 60]);
    expect(accuracy).toBeGreaterThan(0.9);

    const copy = new ExpressionClassifier(64, 7);
    expect(copy.importWeights(new Map())).toBe(false);
    expect(copy.importWeights(new Map(classifier.exportWeights().map((w) => [w.name, w])))).toBe(true);
    const batch = sampler.batch(0);
    const [a, b] = tf.tidy(() => {
      const images = tf.tensor4d(batch.images, [batch.count, 64, 64, 3]);
      return [classifier.logits(images).arraySync(), copy.logits(images).arraySync()];
    });
    expect(b).toEqual(a);
    classifier.dispose();
    copy.dispose();
  });

  it('moves each face within the radius to where it reads the face worse', () => {
    const data = visibleLabels(8);
    const batch = new BatchSampler(data, 8, 1, { flip: false, brightness: 0 }).batch(0);
    // Untrained: no face is read with certainty, so every face has a direction that reads it worse.
    const classifier = new ExpressionClassifier(64, 4);
    const before = tf.memory().numTensors;
    const [distances, plainLoss, movedLoss] = tf.tidy(() => {
      const images = tf.tensor4d(batch.images, [batch.count, 64, 64, 3]);
      const classes = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), 2) as tf.Tensor2D;
      const moved = classifier.worstWithin(images, classes, 2);
      const lossOf = (x: tf.Tensor4D) =>
        tf.losses.softmaxCrossEntropy(classes, classifier.logits(x), undefined, undefined, tf.Reduction.NONE);
      return [
        tf.sqrt(tf.sum(tf.square(tf.sub(moved, images)), [1, 2, 3])).arraySync() as number[],
        lossOf(images).arraySync() as number[],
        lossOf(moved).arraySync() as number[],
      ];
    });
    expect(tf.memory().numTensors).toBe(before);
    distances.forEach((d) => {
      expect(d).toBeLessThanOrEqual(2.0001);
      expect(d).toBeGreaterThan(1.99);
    });
    movedLoss.forEach((loss, i) => expect(loss).toBeGreaterThan(plainLoss[i]! + 0.01));
    classifier.dispose();
  });

  it('trained robustly, still learns a label that shows clearly beyond the radius', async () => {
    const sampler = new BatchSampler(visibleLabels(16), 8, 1, { flip: false, brightness: 0 });
    const classifier = new ExpressionClassifier(64, 4);
    const before = tf.memory().numTensors;
    const accuracy = await classifier.train(sampler, 25, undefined, undefined, 2);
    expect(tf.memory().numTensors).toBe(before);
    expect(accuracy).toBeGreaterThan(0.9);
    classifier.dispose();
  });

  it('judges a larger face at 64 px: the same weights read the same logits on its 2x2 block means', () => {
    const small = new ExpressionClassifier(64, 3);
    const large = new ExpressionClassifier(128, 9);
    expect(large.importWeights(new Map(small.exportWeights().map((w) => [w.name, w])))).toBe(true);
    const [fromLarge, fromSmall] = tf.tidy(() => {
      const images = tf.randomUniform([2, 128, 128, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
      return [large.logits(images), small.logits(tf.avgPool(images, 2, 2, 'valid'))].map((t) => t.dataSync());
    });
    Array.from(fromLarge!).forEach((v, i) => expect(v).toBeCloseTo(fromSmall![i]!, 4));
    // Gradients reach the larger images through the downsampling.
    const gradient = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => tf.sum(large.logits(x as tf.Tensor4D)))(tf.ones([1, 128, 128, 3]))
        .abs()
        .sum()
        .dataSync(),
    );
    expect(gradient[0]).toBeGreaterThan(0);
    small.dispose();
    large.dispose();
  });
});
