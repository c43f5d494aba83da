import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { ExpressionClassifier } from '../../src-main/core/training/expression-classifier.js';
import { GradientHelper } from '../../src-main/core/training/gradient-helper.js';
import { RealismCritic } from '../../src-main/core/training/realism-critic.js';
import {
  computeGradients,
  defaultExpressionSettings,
  directedCrossEntropy,
  disposeGradients,
  expressionLossOf,
  mouthFocusPenalty,
  outsideMouthMask,
  productEdit,
  type TrainedParts,
} from '../../src-main/core/training/gradients.js';
import {
  applyResiduals,
  limitColour,
  maskWeight,
  residualColourShare,
} from '../../src-main/core/editing/residual-edit.js';
import { StepRunner } from '../../src-main/core/training/step.js';
import { largestDifference } from '../helpers/arrays.js';
import { seededRandom } from '../helpers/random.js';
import { partsMoved } from '../helpers/weights.js';

beforeAll(async () => {
  await selectBackend('wasm');
  // One step of a throwaway model first: the layers keep a per-process cache that tensor counts must not see.
  const warm = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 1);
  const step = new StepRunner(warm.network, 0.5, 0.999);
  await step.run(new Float32Array(2 * 64 * 64 * 3), Float32Array.from([0, 1]), 0, 1e-4);
  step.dispose();
  warm.dispose();
});

/** Two identical models, one stepping on this thread alone, one splitting each batch with a helper thread. */
async function pair(preset: 'paper' | 'fader', trained: TrainedParts = 'all') {
  const config = { preset, size: 64, attribute: 'smiling' } as const;
  const single = ExpressionModel.create(config, 9);
  const split = ExpressionModel.create(config, 9);
  const helper = await GradientHelper.start(config, 'wasm');
  return {
    single,
    split,
    helper,
    singleStep: new StepRunner(single.network, 0.5, 0.999, 2e-4, undefined, trained),
    splitStep: new StepRunner(split.network, 0.5, 0.999, 2e-4, helper, trained),
  };
}

function meanDifference(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  a.forEach((v, j) => (sum += Math.abs(v - b[j]!)));
  return sum / a.length;
}

/** count random images in [-1, 1] and alternating labels. */
function randomBatch(seed: number, count = 10): { images: Float32Array; labels: Float32Array } {
  const random = seededRandom(seed);
  return {
    images: Float32Array.from({ length: count * 64 * 64 * 3 }, () => random() * 2 - 1),
    labels: Float32Array.from({ length: count }, (_, i) => i % 2),
  };
}

/**
 * A fresh classifier with its last layer's weights 100x: its logits are near 0
 * otherwise, where every temperature and every edit give about ln 2.
 */
function decisiveClassifier(): ExpressionClassifier {
  const classifier = new ExpressionClassifier(64, 3);
  const arrays = classifier.exportArrays();
  classifier.importArrays(arrays.map((v, i) => (i >= arrays.length - 2 ? v.map((x) => x * 100) : v)));
  return classifier;
}

/** Every weight of the split run matches the single-thread run's. */
function expectSameWeights(single: ExpressionModel, split: ExpressionModel): void {
  const actual = split.network.exportWeights();
  single.network.exportWeights().forEach((w, i) => {
    expect(largestDifference(w.values, actual[i]!.values), w.name).toBeLessThan(1e-4);
  });
}

/** How far a loss moved the decoder: the summed largest differences from a run without it. */
function decoderChange(model: ExpressionModel, withoutLoss: ExpressionModel): number {
  const other = withoutLoss.network.exportWeights();
  return model.network
    .exportWeights()
    .reduce(
      (sum, w, i) => (w.name.startsWith('decoder.') ? sum + largestDifference(w.values, other[i]!.values) : sum),
      0,
    );
}

describe('training steps split across threads', () => {
  it('give the same weights as one thread (paper preset, no batch norm)', async () => {
    const { single, split, helper, singleStep, splitStep } = await pair('paper');
    expect(helper).toBeDefined();
    const { images, labels } = randomBatch(4);
    for (let step = 0; step < 2; step++) {
      const a = await singleStep.run(images, labels, 0.01, 1e-3);
      const b = await splitStep.run(images, labels, 0.01, 1e-3);
      expect(b.reconstruction).toBeCloseTo(a.reconstruction, 4);
      expect(b.discriminator).toBeCloseTo(a.discriminator, 4);
    }
    expectSameWeights(single, split);
    singleStep.dispose();
    splitStep.dispose();
    single.dispose();
    split.dispose();
  });

  it('with the expression loss (its temperature and directions, on the edit), give the same weights on one thread or two and leave the classifier as it is', async () => {
    const { single, split, helper, singleStep, splitStep } = await pair('paper');
    expect(helper).toBeDefined();
    const plain = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 9);
    const plainStep = new StepRunner(plain.network, 0.5, 0.999, 2e-4);
    const classifier = new ExpressionClassifier(64, 3);
    const classifierBefore = classifier.exportWeights();
    // Settings the helper thread must be told of, or the two would differ.
    const settings = { temperature: 2, judged: 'edit', directions: { add: 0.5, remove: 2 } } as const;
    singleStep.useClassifier(classifier, settings);
    splitStep.useClassifier(classifier, settings);
    const { images, labels } = randomBatch(6);
    for (let step = 0; step < 2; step++) {
      const a = await singleStep.run(images, labels, 0.01, 1e-3, { expression: 0.5 });
      const b = await splitStep.run(images, labels, 0.01, 1e-3, { expression: 0.5 });
      const c = await plainStep.run(images, labels, 0.01, 1e-3);
      expect(a.expression).toBeGreaterThan(0.1);
      expect(b.expression).toBeCloseTo(a.expression, 4);
      expect(c.expression).toBe(0);
    }
    expectSameWeights(single, split);
    expect(decoderChange(single, plain)).toBeGreaterThan(1e-4);
    classifier.exportWeights().forEach((w, i) => expect(w.values).toEqual(classifierBefore[i]!.values));
    [singleStep, splitStep, plainStep, single, split, plain, classifier].forEach((d) => d.dispose());
  });

  it('with the mouth-focus penalty, give the same weights on one thread or two', async () => {
    const { single, split, helper, singleStep, splitStep } = await pair('paper');
    expect(helper).toBeDefined();
    const plain = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 9);
    const plainStep = new StepRunner(plain.network, 0.5, 0.999, 2e-4);
    const { images, labels } = randomBatch(7);
    for (let step = 0; step < 2; step++) {
      await singleStep.run(images, labels, 0.01, 1e-3, { mouthFocus: 5 });
      await splitStep.run(images, labels, 0.01, 1e-3, { mouthFocus: 5 });
      await plainStep.run(images, labels, 0.01, 1e-3);
    }
    expectSameWeights(single, split);
    expect(decoderChange(single, plain)).toBeGreaterThan(1e-4);
    [singleStep, splitStep, plainStep, single, split, plain].forEach((d) => d.dispose());
  });

  it('with the realism loss, give the same autoencoder and critic on one thread or two, and the critic learns', async () => {
    const tensors = tf.memory().numTensors;
    const { single, split, helper, singleStep, splitStep } = await pair('paper');
    expect(helper).toBeDefined();
    const plain = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 9);
    const plainStep = new StepRunner(plain.network, 0.5, 0.999, 2e-4);
    const critics = [new RealismCritic(3), new RealismCritic(3)] as const;
    const criticBefore = critics[0].exportArrays().map((a) => Float32Array.from(a));
    singleStep.useCritic(critics[0]);
    splitStep.useCritic(critics[1]);
    const { images, labels } = randomBatch(7);
    for (let step = 0; step < 2; step++) {
      const a = await singleStep.run(images, labels, 0.01, 1e-3, { realism: 0.5 });
      const b = await splitStep.run(images, labels, 0.01, 1e-3, { realism: 0.5 });
      const c = await plainStep.run(images, labels, 0.01, 1e-3);
      // Near ln 2 for a fresh critic (and 2 ln 2 for its own loss on real and edited faces).
      expect(a.realism).toBeGreaterThan(0.3);
      expect(a.critic).toBeGreaterThan(0.6);
      expect(b.realism).toBeCloseTo(a.realism, 4);
      expect(b.critic).toBeCloseTo(a.critic, 4);
      expect([c.realism, c.critic]).toEqual([0, 0]);
    }
    expect((await splitStep.exportState()).filter((t) => t.name.startsWith('optimizer.critic.'))).toHaveLength(
      1 + 2 * critics[0].variables().length,
    );
    expectSameWeights(single, split);
    expect(decoderChange(single, plain)).toBeGreaterThan(1e-4);
    const [one, two] = critics.map((c) => c.exportArrays());
    one!.forEach((values, i) => {
      // Adam turns a near-zero gradient's rounding into a whole step of the learning rate, so a few
      // weights of the fresh critic may differ by about it; on average the two agree closely.
      expect(largestDifference(values, two![i]!)).toBeLessThan(2e-3);
      expect(meanDifference(values, two![i]!)).toBeLessThan(2e-5);
      expect(largestDifference(values, criticBefore[i]!)).toBeGreaterThan(0);
    });
    [singleStep, splitStep, plainStep, single, split, plain, ...critics].forEach((d) => d.dispose());
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it("move the critic at the step's learning rate times its rate factor", async () => {
    const { images, labels } = randomBatch(11, 4);
    const moved = [];
    for (const factor of [1, 10]) {
      const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 9);
      const critic = new RealismCritic(3);
      const before = critic.exportArrays().map((a) => Float32Array.from(a));
      const step = new StepRunner(model.network, 0.5, 0.999, 2e-4);
      step.useCritic(critic, factor);
      await step.run(images, labels, 0, 1e-4, { realism: 0.1 });
      // Adam's first step moves every weight by about the learning rate.
      moved.push(largestDifference(critic.exportArrays()[0]!, before[0]!));
      [step, model, critic].forEach((d) => d.dispose());
    }
    expect(moved[0]).toBeCloseTo(1e-4, 5);
    expect(moved[1]).toBeCloseTo(1e-3, 4);
  });

  it("move the latent discriminator at the step's learning rate times its rate factor, and the autoencoder as before", async () => {
    const { images, labels } = randomBatch(12, 4);
    const moved: { discriminator: number; autoencoder: number }[] = [];
    for (const factor of [1, 5]) {
      const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 9);
      const step = new StepRunner(model.network, 0.5, 0.999, 2e-4);
      step.discriminatorRateFactor = factor;
      moved.push(await partsMoved(model, () => step.run(images, labels, 0.01, 1e-4)));
      [step, model].forEach((d) => d.dispose());
    }
    // Adam's first step moves every weight by about the learning rate.
    expect(moved[0]!.discriminator).toBeCloseTo(1e-4, 5);
    expect(moved[1]!.discriminator).toBeCloseTo(5e-4, 5);
    expect(moved[1]!.autoencoder).toBe(moved[0]!.autoencoder);
  });

  it('train the decoder alone when asked, on one thread or two, with no tensor left behind', async () => {
    const { single, split, helper, singleStep, splitStep } = await pair('paper', 'decoder');
    expect(helper).toBeDefined();
    const { images, labels } = randomBatch(5);
    const before = single.network.exportWeights().map((w) => Float32Array.from(w.values));
    const tensors = tf.memory().numTensors;
    for (let step = 0; step < 2; step++) {
      const a = await singleStep.run(images, labels, 0.01, 1e-3);
      const b = await splitStep.run(images, labels, 0.01, 1e-3);
      expect(b.reconstruction).toBeCloseTo(a.reconstruction, 4);
      expect(a.discriminator).toBeGreaterThan(0);
    }
    // Adam's moments for the decoder are the only new tensors.
    const decoderVariables = single.network.trainableOf('decoder').length;
    expect(tf.memory().numTensors - tensors).toBeLessThanOrEqual(2 * (2 * decoderVariables + 2));
    const parts = new Map(single.network.list().map((v) => [v.name, v.part]));
    const after = single.network.exportWeights();
    const actual = split.network.exportWeights();
    after.forEach((w, i) => {
      const moved = w.values.some((v, j) => v !== before[i]![j]);
      expect(moved, w.name).toBe(parts.get(w.name) === 'decoder');
      expect(largestDifference(w.values, actual[i]!.values), w.name).toBeLessThan(1e-4);
    });
    singleStep.dispose();
    splitStep.dispose();
    single.dispose();
    split.dispose();
  });

  it('reports a failure of the helper thread as an error of the step', async () => {
    const { split, helper, splitStep, single, singleStep } = await pair('paper');
    await helper!.close();
    const images = new Float32Array(8 * 64 * 64 * 3);
    const labels = new Float32Array(8);
    const before = tf.memory().numTensors;
    await expect(splitStep.run(images, labels, 0, 1e-3)).rejects.toThrow(/gradient helper/);
    expect(tf.memory().numTensors).toBe(before);
    [singleStep, splitStep].forEach((s) => s.dispose());
    [single, split].forEach((m) => m.dispose());
  });
});

describe('the expression loss', () => {
  it("is the classifier's cross-entropy on the flipped label, its logits divided by the temperature", () => {
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 9);
    const classifier = decisiveClassifier();
    const { images, labels } = randomBatch(8, 4);
    const byHand = (temperature: number) =>
      tf.tidy(() => {
        const flippedLabels = Array.from(labels, (l) => 1 - l);
        const z = model.network.encode(tf.tensor4d(images, [4, 64, 64, 3]), true);
        const edited = model.network.decode(z, tf.tensor1d(flippedLabels), true);
        const targets = tf.oneHot(tf.tensor1d(flippedLabels, 'int32'), 2);
        const logits = tf.div(classifier.logits(edited), temperature);
        return tf.losses.softmaxCrossEntropy(targets, logits).dataSync()[0]!;
      });
    const before = tf.memory().numTensors;
    const measured = [1, 3].map((temperature) => {
      const gradients = computeGradients(model.network, images, labels, 0, 'all', {
        expression: expressionLossOf(classifier, 1, { ...defaultExpressionSettings, temperature }),
      });
      disposeGradients(gradients);
      return gradients.losses.expression;
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(measured[0]).toBeCloseTo(byHand(1), 5);
    expect(measured[1]).toBeCloseTo(byHand(3), 5);
    expect(Math.abs(measured[0]! - measured[1]!)).toBeGreaterThan(1e-3);
    model.dispose();
    classifier.dispose();
  });
});

describe('the expression loss per direction', () => {
  it("weighs each edit's cross-entropy by its direction's factor, and is the plain mean at 1 and 1", () => {
    const flippedLabels = [1, 0, 0, 1, 1];
    const logits = [
      [0.3, -0.2],
      [1.5, 0.1],
      [-0.7, 0.4],
      [2, -1],
      [0, 0],
    ];
    const crossEntropy = ([a, b]: number[], target: number) => {
      const top = Math.max(a!, b!);
      const logSum = top + Math.log(Math.exp(a! - top) + Math.exp(b! - top));
      return logSum - (target === 1 ? b! : a!);
    };
    const byHand = (add: number, remove: number) =>
      logits.reduce((sum, l, i) => sum + crossEntropy(l, flippedLabels[i]!) * (flippedLabels[i] ? add : remove), 0) /
      logits.length;
    const measure = (add: number, remove: number) =>
      tf.tidy(
        () =>
          directedCrossEntropy(tf.oneHot(tf.tensor1d(flippedLabels, 'int32'), 2) as tf.Tensor2D, tf.tensor2d(logits), {
            add,
            remove,
          }).dataSync()[0]!,
      );
    const before = tf.memory().numTensors;
    expect(measure(1, 1)).toBeCloseTo(byHand(1, 1), 5);
    expect(measure(0.5, 3)).toBeCloseTo(byHand(0.5, 3), 5);
    expect(measure(0, 1)).toBeCloseTo(byHand(0, 1), 5);
    expect(Math.abs(measure(0.5, 3) - measure(1, 1))).toBeGreaterThan(0.1);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the expression loss on the edit', () => {
  it('reads the face plus the change between the decodes, its colour limited and masked as the product does', () => {
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 9);
    const classifier = decisiveClassifier();
    const { images, labels } = randomBatch(8, 4);
    const flippedLabels = Array.from(labels, (l) => 1 - l);
    const byHand = tf.tidy(() => {
      const z = model.network.encode(tf.tensor4d(images, [4, 64, 64, 3]), true);
      const decoded = model.network.decode(z, tf.tensor1d(labels), true).dataSync() as Float32Array;
      const edited = model.network.decode(z, tf.tensor1d(flippedLabels), true).dataSync() as Float32Array;
      const change = limitColour(
        edited.map((v, i) => v - decoded[i]!),
        residualColourShare,
      );
      const edit = images.map((v, i) => {
        const pixel = Math.floor(i / 3) % (64 * 64);
        const weight = maskWeight(((pixel % 64) + 0.5) / 64, (Math.floor(pixel / 64) + 0.5) / 64);
        return Math.min(1, Math.max(-1, v + weight * change[i]!));
      });
      const targets = tf.oneHot(tf.tensor1d(flippedLabels, 'int32'), 2);
      const logits = classifier.logits(tf.tensor4d(edit, [4, 64, 64, 3]));
      return tf.losses.softmaxCrossEntropy(targets, logits).dataSync()[0]!;
    });
    const before = tf.memory().numTensors;
    const measured = (['edit', 'decode'] as const).map((judged) => {
      const gradients = computeGradients(model.network, images, labels, 0, 'all', {
        expression: expressionLossOf(classifier, 1, { ...defaultExpressionSettings, judged }),
      });
      disposeGradients(gradients);
      return gradients.losses.expression;
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(measured[0]).toBeCloseTo(byHand, 5);
    expect(Math.abs(measured[0]! - measured[1]!)).toBeGreaterThan(1e-3);
    model.dispose();
    classifier.dispose();
  });

  it("equals the product's edit of a crop framed whole, to within 8-bit rounding", () => {
    const random = seededRandom(5);
    const size = 64;
    const pixels = Uint8Array.from({ length: size * size * 3 }, () => Math.floor(random() * 256));
    const change = Float32Array.from({ length: size * size * 3 }, () => (random() - 0.5) * 0.8);
    const photo = { data: pixels, width: size, height: size, originalWidth: size, originalHeight: size };
    const frame = { centerX: size / 2, centerY: size / 2, size, angle: 0 };
    const residual = limitColour(
      change.map((v) => v * 127.5),
      residualColourShare,
    );
    const product = applyResiduals(photo, [{ frame, residual, size }]).data;
    const training = tf.tidy(() => {
      const face = tf.sub(tf.div(tf.tensor4d(pixels, [1, size, size, 3], 'float32'), 127.5), 1) as tf.Tensor4D;
      const decoded = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
      const edited = tf.tensor4d(change, [1, size, size, 3]);
      return tf.mul(tf.add(productEdit(face, edited, decoded), 1), 127.5).dataSync();
    });
    expect(largestDifference(Float32Array.from(product), training as Float32Array)).toBeLessThanOrEqual(0.5 + 1e-3);
    // The mask leaves the top corners as they were and changes the mouth.
    expect(training[0]).toBeCloseTo(pixels[0]!, 3);
    const mouth = (Math.floor(0.75 * size) * size + size / 2) * 3;
    expect(Math.abs(training[mouth]! - pixels[mouth]!)).toBeGreaterThan(0);
  });
});

describe('the mouth-focus penalty', () => {
  it('masks out the mouth box: rows 60-90% and columns 28-72% of the crop', () => {
    const mask = outsideMouthMask(64).dataSync() as Float32Array;
    const at = (y: number, x: number) => mask[y * 64 + x];
    // 0.6 * 64 = 38.4, 0.9 * 64 = 57.6, 0.28 * 64 = 17.92, 0.72 * 64 = 46.08
    expect([at(39, 18), at(57, 46), at(48, 30)]).toEqual([0, 0, 0]);
    expect([at(38, 30), at(58, 30), at(48, 17), at(48, 47), at(10, 10)]).toEqual([1, 1, 1, 1, 1]);
    expect(mask.reduce((zeros, v) => zeros + (v === 0 ? 1 : 0), 0)).toBe(19 * 29);
    expect(outsideMouthMask(64)).toBe(outsideMouthMask(64));
  });

  it('adds its weight times the change outside the mouth box to the autoencoder gradients', () => {
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 5);
    const { network } = model;
    const { images, labels } = randomBatch(11, 4);
    const weight = 3;
    const plain = computeGradients(network, images, labels, 0.01, 'all', {});
    const focused = computeGradients(network, images, labels, 0.01, 'all', { mouthFocus: weight });
    const direct = tf.variableGrads(
      () => {
        const z = network.encode(tf.tensor4d(images, [4, 64, 64, 3]), true);
        const decoded = network.decode(z, tf.tensor1d(labels), true);
        const edited = network.decode(z, tf.tensor1d(Array.from(labels, (l) => 1 - l)), true);
        return tf.mul(mouthFocusPenalty(edited, decoded), weight) as tf.Scalar;
      },
      network.trainableOf(['encoder', 'decoder']),
    );
    let largest = 0;
    for (const [name, gradient] of Object.entries(direct.grads)) {
      const added = tf.tidy(() => tf.sub(focused.autoencoder[name]!, plain.autoencoder[name]!).dataSync());
      const expected = gradient.dataSync() as Float32Array;
      largest = expected.reduce((m, v) => Math.max(m, Math.abs(v)), largest);
      expect(largestDifference(added as Float32Array, expected), name).toBeLessThan(1e-5);
    }
    expect(largest).toBeGreaterThan(1e-4);
    [plain, focused].forEach(disposeGradients);
    tf.dispose([direct.value, ...Object.values(direct.grads)]);
    model.dispose();
  });
});
