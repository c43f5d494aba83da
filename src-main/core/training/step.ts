import * as tf from '@tensorflow/tfjs';
import type { NamedArray } from '../model/checkpoint.js';
import type { ExpressionNetwork } from '../model/network.js';

export interface StepLosses {
  reconstruction: number;
  adversarial: number;
  discriminator: number;
  /** share of the batch whose label the discriminator read correctly from z */
  accuracy: number;
}

/**
 * One training step of the paper's model, shared by training runs and the
 * benchmark: the autoencoder learns to reconstruct while fooling the latent
 * discriminator (weight mu), then the discriminator learns on the same z.
 */
export class StepRunner {
  readonly autoencoderOptimizer: tf.AdamOptimizer;
  readonly discriminatorOptimizer: tf.AdamOptimizer;

  constructor(
    private readonly network: ExpressionNetwork,
    private readonly beta1: number,
    private readonly beta2: number,
    learningRate = 2e-4,
  ) {
    this.autoencoderOptimizer = tf.train.adam(learningRate, beta1, beta2);
    this.discriminatorOptimizer = tf.train.adam(learningRate, beta1, beta2);
  }

  /** images: [n, size, size, 3] floats in [-1, 1]; labels: one value per image */
  run(imageValues: Float32Array, labelValues: Float32Array, mu: number, learningRate: number): StepLosses {
    setLearningRate(this.autoencoderOptimizer, learningRate);
    setLearningRate(this.discriminatorOptimizer, learningRate);
    const size = this.network.config.size;
    const count = labelValues.length;
    const images = tf.tensor4d(imageValues, [count, size, size, 3]);
    const labels = tf.tensor1d(labelValues);
    // The discriminator classifies smiling vs not; intensity labels are thresholded.
    const classes = tf.tidy(() => tf.oneHot(tf.cast(tf.greaterEqual(labels, 0.5), 'int32'), 2));
    const flipped = tf.tidy(() => tf.sub(1, classes));
    const kept: tf.Tensor[] = [];
    const keep = <T extends tf.Tensor>(t: T): T => {
      kept.push(tf.keep(t));
      return t;
    };
    try {
      let latent: tf.Tensor4D | undefined;
      let reconstruction: tf.Scalar | undefined;
      let adversarial: tf.Scalar | undefined;
      const ae = tf.variableGrads(
        () => {
          const z = (latent = keep(this.network.encode(images, true)));
          reconstruction = keep(tf.losses.meanSquaredError(images, this.network.decode(z, labels, true)) as tf.Scalar);
          if (mu === 0) return reconstruction;
          // Fader's adversarial term: make the discriminator read the flipped label from z.
          adversarial = keep(tf.losses.softmaxCrossEntropy(flipped, this.network.discriminate(z, false)) as tf.Scalar);
          return tf.add(reconstruction, tf.mul(adversarial, mu)) as tf.Scalar;
        },
        this.network.trainableOf(['encoder', 'decoder']),
      );
      this.autoencoderOptimizer.applyGradients(ae.grads as Record<string, tf.Variable>);
      kept.push(ae.value, ...Object.values(ae.grads));
      // The discriminator learns on the same z, detached: its tape holds only its own weights.
      let logits: tf.Tensor2D | undefined;
      const dis = tf.variableGrads(() => {
        logits = keep(this.network.discriminate(latent!, true));
        return tf.losses.softmaxCrossEntropy(classes, logits) as tf.Scalar;
      }, this.network.trainableOf('discriminator'));
      this.discriminatorOptimizer.applyGradients(dis.grads as Record<string, tf.Variable>);
      kept.push(dis.value, ...Object.values(dis.grads));
      this.network.weightsChanged();
      const measured = tf.tidy(() => {
        const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits!, 1), tf.argMax(classes, 1)), 'float32'));
        const adversarialValue = adversarial ?? tf.losses.softmaxCrossEntropy(flipped, logits!);
        return tf.stack([reconstruction!, adversarialValue, dis.value, accuracy]);
      });
      kept.push(measured);
      const [rec, adv, disLoss, accuracy] = Array.from(measured.dataSync()) as [number, number, number, number];
      return { reconstruction: rec, adversarial: adv, discriminator: disLoss, accuracy };
    } finally {
      tf.dispose([images, labels, classes, flipped, ...kept]);
    }
  }

  async exportState(): Promise<NamedArray[]> {
    return [
      ...(await optimizerArrays('optimizer.autoencoder', this.autoencoderOptimizer)),
      ...(await optimizerArrays('optimizer.discriminator', this.discriminatorOptimizer)),
    ];
  }

  async restoreState(tensors: Map<string, NamedArray>): Promise<void> {
    const ae = this.network.trainableOf(['encoder', 'decoder']);
    await this.restoreAdam('optimizer.autoencoder', this.autoencoderOptimizer, ae, tensors);
    const dis = this.network.trainableOf('discriminator');
    await this.restoreAdam('optimizer.discriminator', this.discriminatorOptimizer, dis, tensors);
  }

  dispose(): void {
    this.autoencoderOptimizer.dispose();
    this.discriminatorOptimizer.dispose();
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
    if (saved.length === 0) return; // saved before the first update: fresh optimiser state
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
  return Promise.all(
    weights.map(async (w, i) => ({
      name: `${prefix}.${String(i).padStart(4, '0')}`,
      shape: w.tensor.shape,
      values: Float32Array.from(await w.tensor.data()),
    })),
  );
}
