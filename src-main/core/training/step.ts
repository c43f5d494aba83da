import * as tf from '@tensorflow/tfjs';
import type { NamedArray } from '../model/checkpoint.js';
import type { ExpressionNetwork } from '../model/network.js';
import {
  autoencoderParts,
  computeGradients,
  defaultExpressionSettings,
  disposeGradients,
  expressionLossOf,
  gradientsFromArrays,
  realismLossOf,
  type Gradients,
  type StepLosses,
  type TrainedParts,
} from './gradients.js';
import type { GradientHelper } from './gradient-helper.js';
import type { ExpressionClassifier } from './expression-classifier.js';
import type { RealismCritic } from './realism-critic.js';
import { adam } from './fused-adam.js';
import { DiscriminatorReplay, type ReplaySettings } from './discriminator-replay.js';

/** Below this many images per thread, the copies to and from a helper cost more than they save. */
const minimumSharePerThread = 4;

export type { StepLosses };

/** The weights of a step's optional loss terms (0 or absent: the term is off). */
export interface StepWeights {
  expression?: number;
  realism?: number;
  mouthFocus?: number;
}

/**
 * One training step of the paper's model, shared by training runs and the
 * benchmark: the autoencoder learns to reconstruct while fooling the latent
 * discriminator (weight mu), then the discriminator learns on the same z.
 */
export class StepRunner {
  readonly autoencoderOptimizer: tf.AdamOptimizer;
  readonly discriminatorOptimizer: tf.AdamOptimizer;
  private classifier: ExpressionClassifier | undefined;
  private expressionSettings = defaultExpressionSettings;
  private critic: { network: RealismCritic; optimizer: tf.AdamOptimizer; rateFactor: number } | undefined;
  /**
   * The latent discriminator learns at the step's learning rate times this. Why
   * above 1: at an equal rate the encoder keeps ahead of it, so it reads z at
   * chance while a fresh classifier still reads the smile there (docs/model.md).
   */
  discriminatorRateFactor = 1;
  private replay: DiscriminatorReplay | undefined;

  constructor(
    private readonly network: ExpressionNetwork,
    private readonly beta1: number,
    private readonly beta2: number,
    learningRate = 2e-4,
    /** a thread that computes half of each batch's gradients (see GradientHelper) */
    private readonly helper?: GradientHelper,
    private readonly trained: TrainedParts = 'all',
  ) {
    this.autoencoderOptimizer = adam(learningRate, beta1, beta2);
    this.discriminatorOptimizer = adam(learningRate, beta1, beta2);
  }

  /** The frozen classifier of the expression loss and how it reads the edits (sent once to the helper thread too). */
  useClassifier(classifier: ExpressionClassifier, settings = defaultExpressionSettings): void {
    this.classifier = classifier;
    this.expressionSettings = settings;
    this.helper?.useClassifier(classifier.exportArrays(), settings);
  }

  /** Extra latent-discriminator updates after each step, on the codes of recent batches (see DiscriminatorReplay). */
  useReplay(settings: ReplaySettings, seed: number): void {
    if (this.trained === 'decoder') throw new Error('a decoder-only step keeps the discriminator as it is');
    this.replay = new DiscriminatorReplay(this.network, this.discriminatorOptimizer, settings, seed);
  }

  /**
   * The realism critic, which learns with the autoencoder: its own Adam, at the
   * step's learning rate times `rateFactor` (a critic that learns faster than
   * what it judges keeps up with it: the two time-scale rule of GAN training).
   */
  useCritic(critic: RealismCritic, rateFactor = 1): void {
    if (this.critic) throw new Error('the step already has a critic');
    this.critic = { network: critic, optimizer: adam(2e-4, this.beta1, this.beta2), rateFactor };
  }

  /**
   * One step on a batch: gradients of all parts at the current weights (on
   * this thread and, for large enough batches, a helper thread), then their
   * Adam updates. images: [n, size, size, 3] floats in [-1, 1].
   */
  async run(
    images: Float32Array,
    labels: Float32Array,
    mu: number,
    learningRate: number,
    weights: StepWeights = {},
  ): Promise<StepLosses> {
    const losses = await this.runGradients(images, labels, mu, learningRate, weights);
    this.replay?.run(images, labels);
    return losses;
  }

  private async runGradients(
    images: Float32Array,
    labels: Float32Array,
    mu: number,
    learningRate: number,
    weights: StepWeights,
  ): Promise<StepLosses> {
    setLearningRate(this.autoencoderOptimizer, learningRate);
    setLearningRate(this.discriminatorOptimizer, learningRate * this.discriminatorRateFactor);
    if (this.critic) setLearningRate(this.critic.optimizer, learningRate * this.critic.rateFactor);
    const extra = {
      expression: expressionLossOf(this.classifier, weights.expression ?? 0, this.expressionSettings),
      realism: realismLossOf(this.critic?.network, weights.realism ?? 0),
      mouthFocus: weights.mouthFocus ?? 0,
    };
    const helper = this.helper;
    const count = labels.length;
    if (!helper || count < 2 * minimumSharePerThread) {
      const local = computeGradients(this.network, images, labels, mu, this.trained, extra);
      return this.apply([local]);
    }
    // The helper takes the second half, from a copy of the current weights.
    const split = Math.ceil(count / 2);
    const pixels = images.length / count;
    const remote = helper.gradients(
      this.network.exportWeights().map((w) => w.values),
      images.slice(split * pixels),
      labels.slice(split),
      mu,
      this.trained,
      extra.expression?.weight ?? 0,
      extra.realism ? { weights: extra.realism.critic.exportArrays(), weight: extra.realism.weight } : undefined,
      extra.mouthFocus,
    );
    let local: Gradients | undefined;
    try {
      const localImages = images.subarray(0, split * pixels);
      const localLabels = labels.subarray(0, split);
      local = computeGradients(this.network, localImages, localLabels, mu, this.trained, extra);
      const other = await remote;
      return this.apply([local, gradientsFromArrays(this.network, other, this.trained, this.critic?.network)]);
    } catch (error) {
      if (local) disposeGradients(local);
      throw error;
    }
  }

  /** Averages the parts' gradients (weighted by their image counts) and updates both parts. */
  private apply(parts: Gradients[]): StepLosses {
    try {
      const total = parts.reduce((sum, p) => sum + p.count, 0);
      const mean = (pick: (g: Gradients) => tf.NamedTensorMap): Record<string, tf.Tensor> => {
        const names = Object.keys(pick(parts[0]!));
        return Object.fromEntries(
          names.map((name) => [
            name,
            parts.length === 1
              ? pick(parts[0]!)[name]!
              : tf.addN(parts.map((p) => tf.mul(pick(p)[name]!, p.count / total))),
          ]),
        );
      };
      tf.tidy(() => {
        this.autoencoderOptimizer.applyGradients(mean((g) => g.autoencoder) as Record<string, tf.Variable>);
        const discriminator = mean((g) => g.discriminator);
        if (Object.keys(discriminator).length > 0) {
          this.discriminatorOptimizer.applyGradients(discriminator as Record<string, tf.Variable>);
        }
        const critic = mean((g) => g.critic);
        if (this.critic && Object.keys(critic).length > 0) {
          this.critic.optimizer.applyGradients(critic as Record<string, tf.Variable>);
        }
      });
      this.network.weightsChanged();
      const weighted = (key: keyof StepLosses) => parts.reduce((sum, p) => sum + p.losses[key] * p.count, 0) / total;
      return {
        reconstruction: weighted('reconstruction'),
        adversarial: weighted('adversarial'),
        discriminator: weighted('discriminator'),
        accuracy: weighted('accuracy'),
        expression: weighted('expression'),
        realism: weighted('realism'),
        critic: weighted('critic'),
      };
    } finally {
      parts.forEach(disposeGradients);
    }
  }

  async exportState(): Promise<NamedArray[]> {
    return [
      ...(await optimizerArrays('optimizer.autoencoder', this.autoencoderOptimizer)),
      ...(await optimizerArrays('optimizer.discriminator', this.discriminatorOptimizer)),
      ...(this.critic ? await optimizerArrays('optimizer.critic', this.critic.optimizer) : []),
    ];
  }

  async restoreState(tensors: Map<string, NamedArray>): Promise<void> {
    const ae = this.network.trainableOf(autoencoderParts(this.trained));
    await this.restoreAdam('optimizer.autoencoder', this.autoencoderOptimizer, ae, tensors);
    if (this.trained === 'decoder') return; // the discriminator stays as it is, with no optimiser state
    const dis = this.network.trainableOf('discriminator');
    await this.restoreAdam('optimizer.discriminator', this.discriminatorOptimizer, dis, tensors);
    if (this.critic) {
      await this.restoreAdam('optimizer.critic', this.critic.optimizer, this.critic.network.variables(), tensors);
    }
  }

  dispose(): void {
    this.autoencoderOptimizer.dispose();
    this.discriminatorOptimizer.dispose();
    this.critic?.optimizer.dispose();
    void this.helper?.close();
  }

  /**
   * Adam's state is [iterations, m of each variable, v of each variable]; tfjs
   * restores it by position. Its bias-correction powers (beta^t) are not part of
   * that state, so they are recomputed from the iteration count.
   */
  private async restoreAdam(
    prefix: string,
    optimizer: tf.AdamOptimizer,
    variables: tf.Variable[],
    tensors: Map<string, NamedArray>,
  ): Promise<void> {
    const saved = [...tensors.values()]
      .filter((t) => t.name.startsWith(`${prefix}.`))
      .sort((a, b) => a.name.localeCompare(b.name));
    // Saved before the first update (only the iteration count, or nothing): fresh optimiser state.
    if (saved.length <= 1) return;
    if (saved.length !== 1 + 2 * variables.length) {
      throw new Error(`optimiser state ${prefix} does not match the model (${saved.length} slots)`);
    }
    const names = ['iter', ...variables.map((v) => `${v.name}/m`), ...variables.map((v) => `${v.name}/v`)];
    const named = saved.map((t, i) => ({ name: names[i]!, tensor: tf.tensor(t.values, t.shape) }));
    await optimizer.setWeights(named);
    tf.dispose(named.map((n) => n.tensor));
    const iterations = saved[0]!.values[0]!;
    const powers = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
    tf.tidy(() => {
      powers.accBeta1.assign(tf.scalar(this.beta1 ** (iterations + 1)));
      powers.accBeta2.assign(tf.scalar(this.beta2 ** (iterations + 1)));
    });
  }
}

/** tfjs' Adam reads its learning rate on every update; the paper decays it per phase. */
function setLearningRate(optimizer: tf.AdamOptimizer, rate: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = rate;
}

async function optimizerArrays(prefix: string, optimizer: tf.Optimizer): Promise<NamedArray[]> {
  const weights = await optimizer.getWeights();
  try {
    return await Promise.all(
      weights.map(async (w, i) => ({
        name: `${prefix}.${String(i).padStart(4, '0')}`,
        shape: w.tensor.shape,
        values: Float32Array.from(await w.tensor.data()),
      })),
    );
  } finally {
    // The first entry is a new scalar of the iteration count; the rest are the optimiser's own variables.
    weights[0]?.tensor.dispose();
  }
}
