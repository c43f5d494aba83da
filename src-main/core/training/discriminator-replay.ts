import * as tf from '@tensorflow/tfjs';
import type { ExpressionNetwork } from '../model/network.js';
import { mixSeed, mulberry } from '../util/random.js';
import { labelClasses } from './gradients.js';

/** How many extra updates the latent discriminator gets per step, and on how many recent batches' codes. */
export interface ReplaySettings {
  /** extra discriminator updates after each step (0: none) */
  steps: number;
  /** how many of the latest batches' codes they draw from */
  memory: number;
}

/**
 * Extra updates of the latent discriminator, each on a batch drawn from the
 * codes of the last few batches. Why: a discriminator that learns once per
 * step, on codes it sees once, stays far behind the encoder it judges: on the
 * release it reads the smile from z at chance while a fresh classifier trained
 * to the end on the same frozen codes reads 85% (`mien probe`). The adversarial
 * term can only hide from z what the discriminator can read there. Codes are
 * the encoder's after the step's update, so the discriminator learns on the z
 * the next step will try to hide the label in.
 *
 * The memory is not part of a checkpoint: after a resume it fills again from
 * the next batches.
 */
export class DiscriminatorReplay {
  private readonly codes: Float32Array[] = [];
  private readonly labels: Float32Array[] = [];
  /** one code's [height, width, channels] */
  private codeShape: [number, number, number] = [0, 0, 0];
  private updates = 0;

  constructor(
    private readonly network: ExpressionNetwork,
    private readonly optimizer: tf.Optimizer,
    readonly settings: ReplaySettings,
    private readonly seed = 1,
  ) {
    if (!Number.isInteger(settings.steps) || settings.steps < 0) throw new Error('replay steps must be a whole number');
    if (!Number.isInteger(settings.memory) || settings.memory < 1) throw new Error('replay memory must be at least 1');
  }

  /** Encodes the batch with the current weights, remembers its codes, then runs the extra updates. */
  run(images: Float32Array, labels: Float32Array): void {
    if (this.settings.steps === 0) return;
    this.remember(images, labels);
    for (let i = 0; i < this.settings.steps; i++) this.update(labels.length);
  }

  private remember(images: Float32Array, labels: Float32Array): void {
    const size = this.network.config.size;
    const codes = tf.tidy(() => this.network.encode(tf.tensor4d(images, [labels.length, size, size, 3]), false));
    const [, height, width, channels] = codes.shape;
    this.codeShape = [height, width, channels];
    this.codes.push(codes.dataSync() as Float32Array);
    this.labels.push(Float32Array.from(labels));
    codes.dispose();
    if (this.codes.length > this.settings.memory) {
      this.codes.shift();
      this.labels.shift();
    }
  }

  /** One Adam update of the discriminator on `count` codes drawn at random from the memory. */
  private update(count: number): void {
    const random = mulberry(mixSeed(this.seed, this.updates++, 0xd15c));
    const codeLength = this.codeShape[0] * this.codeShape[1] * this.codeShape[2];
    const codes = new Float32Array(count * codeLength);
    const labels = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const batch = Math.floor(random() * this.codes.length);
      const row = Math.floor(random() * this.labels[batch]!.length);
      codes.set(this.codes[batch]!.subarray(row * codeLength, (row + 1) * codeLength), i * codeLength);
      labels[i] = this.labels[batch]![row]!;
    }
    tf.tidy(() => {
      const z = tf.tensor4d(codes, [count, ...this.codeShape]);
      const classes = labelClasses(tf.tensor1d(labels));
      const { grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(classes, this.network.discriminate(z, true)) as tf.Scalar,
        this.network.trainableOf('discriminator'),
      );
      this.optimizer.applyGradients(grads as Record<string, tf.Variable>);
    });
  }
}
