import * as tf from '@tensorflow/tfjs';
import { conv2x, dense, leakyRelu } from '../model/layers.js';
import type { BatchSampler } from './batches.js';
import { WeightSet } from './weight-set.js';

/** Prefix of the classifier's tensors in a training checkpoint. */
export const classifierPrefix = 'classifier.';

const widths = [32, 64, 128, 256];
const learningRate = 1e-3;
/**
 * The largest size the classifier sees faces at; larger ones are box-downsampled
 * first. A smile is in the face's shape at this scale, and a classifier that
 * sees finer detail lets the decoder satisfy it with patterns no one reads as a
 * smile: a 128 px run judged at 128 px drew bright blotches and horizontal bands
 * within 300 steps.
 */
export const classifierMaxSize = 64;

/**
 * A small image classifier that reads the label (smiling or not) from a face,
 * trained on the run's real faces before the autoencoder needs it, then frozen.
 * The expression loss asks it to read the flipped label on the image decoded
 * with the flipped label: without that, the decoder may keep reading the
 * expression from z (where the latent discriminator cannot see it) and the
 * label planes barely change the output.
 */
export class ExpressionClassifier extends WeightSet {
  constructor(
    private readonly size: number,
    seed = 1,
  ) {
    super(classifierPrefix, seed);
    let channels = 3;
    widths.forEach((out, i) => {
      this.addUniform(`conv${i}.filter`, [4, 4, channels, out], 16 * channels);
      this.addUniform(`conv${i}.bias`, [out], 16 * channels);
      channels = out;
    });
    const side = Math.min(size, classifierMaxSize) / 2 ** widths.length;
    const features = side * side * channels;
    this.addUniform('dense.weights', [features, 2], features);
    this.addUniform('dense.bias', [2], features);
  }

  /** images in [-1, 1], [n, size, size, 3] -> logits over (not smiling, smiling) */
  logits(images: tf.Tensor4D): tf.Tensor2D {
    let h = boxDownsample(images, Math.max(1, this.size / classifierMaxSize));
    widths.forEach((_, i) => {
      h = conv2x(h, this.get(`conv${i}.filter`) as tf.Tensor4D, this.get(`conv${i}.bias`) as tf.Tensor1D);
      h = leakyRelu(h);
    });
    const flat = tf.reshape(h, [images.shape[0], -1]) as tf.Tensor2D;
    return dense(flat, this.get('dense.weights') as tf.Tensor2D, this.get('dense.bias') as tf.Tensor1D);
  }

  /**
   * Trains on real faces (thresholded labels); reports progress every 50 steps
   * and returns the share of the last batches it read correctly.
   */
  async train(
    sampler: BatchSampler,
    steps: number,
    onProgress?: (step: number, accuracy: number) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    const optimizer = tf.train.adam(learningRate, 0.9, 0.999);
    const variables = this.variables();
    let correct = 0;
    let seen = 0;
    try {
      for (let step = 0; step < steps && !signal?.aborted; step++) {
        const batch = sampler.batch(step);
        const accuracy = tf.tidy(() => {
          const images = tf.tensor4d(batch.images, [batch.count, this.size, this.size, 3]);
          const classes = tf.oneHot(tf.cast(tf.greaterEqual(tf.tensor1d(batch.labels), 0.5), 'int32'), 2);
          let logits: tf.Tensor2D | undefined;
          const { value, grads } = tf.variableGrads(() => {
            // Kept: the gradient scope disposes what its function creates.
            logits = tf.keep(this.logits(images));
            return tf.losses.softmaxCrossEntropy(classes, logits) as tf.Scalar;
          }, variables);
          optimizer.applyGradients(grads as Record<string, tf.Variable>);
          tf.dispose([value, ...Object.values(grads)]);
          const read = tf.mean(tf.cast(tf.equal(tf.argMax(logits!, 1), tf.argMax(classes, 1)), 'float32'));
          logits!.dispose();
          return read;
        });
        const counted = step >= steps - 20;
        const reported = (step + 1) % 50 === 0 || step === steps - 1;
        if (counted || reported) {
          const value = (await accuracy.data())[0]!;
          if (counted) {
            correct += value * batch.count;
            seen += batch.count;
          }
          if (reported) onProgress?.(step + 1, value);
        }
        accuracy.dispose();
        // Let cancellation in between steps.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      optimizer.dispose();
    }
    return seen > 0 ? correct / seen : 0;
  }
}

/** Each `factor` x `factor` block's mean (a reshape and a mean, whose gradients every backend has). */
function boxDownsample(images: tf.Tensor4D, factor: number): tf.Tensor4D {
  if (factor === 1) return images;
  const [n, height, width, channels] = images.shape;
  const blocks = tf.reshape(images, [n, height / factor, factor, width / factor, factor, channels]);
  return tf.mean(blocks, [2, 4]) as tf.Tensor4D;
}
