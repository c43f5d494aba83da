import * as tf from '@tensorflow/tfjs';
import { conv2x, dense, leakyRelu } from '../model/layers.js';
import type { BatchSampler } from './batches.js';
import { WeightSet } from './weight-set.js';
import { adam } from './fused-adam.js';

/** Prefix of the classifier's tensors in a training checkpoint. */
export const classifierPrefix = 'classifier.';

const widths = [32, 64, 128, 256];
const learningRate = 1e-3;
/** gradient steps of the search for each batch's worst faces in robust training */
const attackSteps = 5;
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
 *
 * Trained plainly, it reads smiles from patterns no person would: a decoder
 * that pleases it draws smears and blotches. Trained robustly (`robustness`,
 * see `train`), its gradients follow what people read as a smile: teeth, the
 * mouth's corners, raised cheeks (Santurkar et al., "Image Synthesis with a
 * Single (Robust) Classifier", 2019).
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
   * and returns the share of the last batches it read correctly. With
   * `robustness` above 0, every batch is first moved, within that L2 distance
   * per face, to where the classifier reads it worst (adversarial training,
   * Madry et al. 2018), so that no change that small can flip its answer. The
   * distance grows from 0 to `robustness` over the first half of the steps: at
   * the full distance from the first step, a classifier robust at 4 stayed at
   * chance on the test faces after 800 steps.
   */
  async train(
    sampler: BatchSampler,
    steps: number,
    onProgress?: (step: number, accuracy: number) => void,
    signal?: AbortSignal,
    robustness = 0,
  ): Promise<number> {
    const optimizer = adam(learningRate, 0.9, 0.999);
    const variables = this.variables();
    let correct = 0;
    let seen = 0;
    try {
      for (let step = 0; step < steps && !signal?.aborted; step++) {
        const batch = sampler.batch(step);
        const accuracy = tf.tidy(() => {
          const real = tf.tensor4d(batch.images, [batch.count, this.size, this.size, 3]);
          const classes = tf.oneHot(
            tf.cast(tf.greaterEqual(tf.tensor1d(batch.labels), 0.5), 'int32'),
            2,
          ) as tf.Tensor2D;
          const radius = robustness * Math.min(1, (step + 1) / Math.max(1, steps / 2));
          const images = radius > 0 ? this.worstWithin(real, classes, radius) : real;
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

  /**
   * The faces moved, each within `radius` (L2), to where the classifier reads
   * their true class worst: projected gradient ascent on its loss, in
   * `attackSteps` normalised steps of 2.5 radius / attackSteps each.
   */
  worstWithin(images: tf.Tensor4D, classes: tf.Tensor2D, radius: number): tf.Tensor4D {
    return tf.tidy(() => {
      const lossAt = tf.grad((offset: tf.Tensor) =>
        tf.losses.softmaxCrossEntropy(classes, this.logits(tf.add(images, offset) as tf.Tensor4D)),
      );
      const stepSize = (2.5 * radius) / attackSteps;
      let offset = tf.zerosLike(images);
      for (let i = 0; i < attackSteps; i++) {
        const gradient = lossAt(offset) as tf.Tensor4D;
        const moved = tf.add(offset, tf.mul(gradient, tf.div(stepSize, imageNorms(gradient)))) as tf.Tensor4D;
        offset = tf.mul(moved, tf.minimum(1, tf.div(radius, imageNorms(moved))));
      }
      return tf.add(images, offset) as tf.Tensor4D;
    });
  }
}

/** Each image's L2 norm, [n, 1, 1, 1]. */
function imageNorms(x: tf.Tensor4D): tf.Tensor4D {
  return tf.sqrt(tf.add(tf.sum(tf.square(x), [1, 2, 3], true), 1e-12)) as tf.Tensor4D;
}

/** Each `factor` x `factor` block's mean (a reshape and a mean, whose gradients every backend has). */
function boxDownsample(images: tf.Tensor4D, factor: number): tf.Tensor4D {
  if (factor === 1) return images;
  const [n, height, width, channels] = images.shape;
  const blocks = tf.reshape(images, [n, height / factor, factor, width / factor, factor, channels]);
  return tf.mean(blocks, [2, 4]) as tf.Tensor4D;
}
