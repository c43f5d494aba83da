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
