import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { DiscriminatorReplay } from '../../src-main/core/training/discriminator-replay.js';
import { adam } from '../../src-main/core/training/fused-adam.js';
import { StepRunner } from '../../src-main/core/training/step.js';
import { seededRandom } from '../helpers/random.js';
import { partsMoved } from '../helpers/weights.js';

const size = 64;
const config = { preset: 'paper', size, attribute: 'smiling' } as const;

beforeAll(async () => {
  await selectBackend('wasm');
});

/**
 * count noisy images whose label shows in their brightness: label 1 is a bright
 * face, 0 a dark one, so any encoder's codes carry it.
 */
function brightnessBatch(count: number, seed: number) {
  const random = seededRandom(seed);
  const labels = Float32Array.from({ length: count }, (_, i) => i % 2);
  const images = new Float32Array(count * size * size * 3);
  for (let i = 0; i < count; i++) {
    const base = labels[i] === 1 ? 0.5 : -0.5;
    for (let j = 0; j < size * size * 3; j++) images[i * size * size * 3 + j] = base + (random() - 0.5) * 0.6;
  }
  return { images, labels };
}

function discriminatorAccuracy(model: ExpressionModel, images: Float32Array, labels: Float32Array): number {
  return tf.tidy(() => {
    const z = model.network.encode(tf.tensor4d(images, [labels.length, size, size, 3]));
    const read = tf.argMax(model.network.discriminate(z), 1).dataSync();
    return labels.filter((label, i) => read[i] === label).length / labels.length;
  });
}

describe('discriminator replay', () => {
  it('teaches the discriminator to read a label the codes carry, from batches it has seen', () => {
    const model = ExpressionModel.create(config, 4);
    const optimizer = adam(1e-3, 0.5, 0.999);
    const replay = new DiscriminatorReplay(model.network, optimizer, { steps: 4, memory: 3 }, 7);
    const test = brightnessBatch(16, 99);
    const before = discriminatorAccuracy(model, test.images, test.labels);
    const tensors = tf.memory().numTensors;
    for (let batch = 0; batch < 6; batch++) {
      const { images, labels } = brightnessBatch(8, batch);
      replay.run(images, labels);
    }
    // Adam creates its two moments per variable on the first update; nothing else stays behind.
    const moments = 2 * model.network.trainableOf('discriminator').length;
    expect(tf.memory().numTensors).toBe(tensors + moments);
    expect(before).toBeLessThan(0.9);
    expect(discriminatorAccuracy(model, test.images, test.labels)).toBe(1);
    optimizer.dispose();
    model.dispose();
  });

  it('moves only the discriminator, and further than a step without it', async () => {
    const { images, labels } = brightnessBatch(6, 3);
    const moved: { discriminator: number; autoencoder: number }[] = [];
    for (const steps of [0, 3]) {
      const model = ExpressionModel.create(config, 9);
      const step = new StepRunner(model.network, 0.5, 0.999, 2e-4);
      step.useReplay({ steps, memory: 2 }, 1);
      moved.push(await partsMoved(model, () => step.run(images, labels, 0.01, 1e-4)));
      [step, model].forEach((d) => d.dispose());
    }
    // Adam's first update moves a weight by about the learning rate; the replay's three more move it further.
    expect(moved[0]!.discriminator).toBeCloseTo(1e-4, 5);
    expect(moved[1]!.discriminator).toBeGreaterThan(2e-4);
    expect(moved[1]!.autoencoder).toBe(moved[0]!.autoencoder);
  });

  it('is refused for a step that trains the decoder alone, and for settings that make no sense', () => {
    const model = ExpressionModel.create(config, 2);
    const step = new StepRunner(model.network, 0.5, 0.999, 2e-4, undefined, 'decoder');
    expect(() => step.useReplay({ steps: 2, memory: 4 }, 1)).toThrow(/decoder/);
    const optimizer = adam(1e-3, 0.5, 0.999);
    expect(() => new DiscriminatorReplay(model.network, optimizer, { steps: 1.5, memory: 4 })).toThrow(/steps/);
    expect(() => new DiscriminatorReplay(model.network, optimizer, { steps: 1, memory: 0 })).toThrow(/memory/);
    [step, model, optimizer].forEach((d) => d.dispose());
  });
});
