import * as tf from '@tensorflow/tfjs';
import { conv2x, leakyRelu } from '../model/layers.js';
import { WeightSet } from './weight-set.js';

/** Prefix of the critic's tensors in a training checkpoint. */
export const criticPrefix = 'critic.';

const widths = [32, 64, 128];
/** pixels a side of the patch each of the critic's outputs stands for (three stride-2 layers) */
const patchSide = 8;

/**
 * A conditional patch discriminator (pix2pix's patches, conditioned on the
 * label by projection, as in Miyato and Koyama's cGANs with projection
 * discriminator: each patch's logit is a realism term plus the label's
 * direction times a learned reading of the patch) that tells real faces with their
 * true label from edited faces with the label they were asked for: the face
 * with the change between the decodes at the flipped and the true label added,
 * as the app edits photos. Each of its outputs sees a patch of the face (an
 * 8x8 grid of them at 64 px), so it judges local texture, such as a mouth drawn
 * as a dark smear, rather than the whole face.
 *
 * Why: the expression loss alone pushes the decoder to draw whatever its
 * classifier reads as a smile, and a blurry decoder draws smears. The realism
 * loss asks the same edits to look like real faces of the asked expression. The
 * label matters: a critic that judged realism alone is fooled most easily by
 * no edit at all (measured: the share of smiles added fell from 57% to 28% in
 * 600 steps). The critic trains with the autoencoder, step by step, and
 * travels in training checkpoints.
 */
export class RealismCritic extends WeightSet {
  constructor(seed = 1) {
    super(criticPrefix, seed);
    let channels = 3;
    widths.forEach((out, i) => {
      this.addUniform(`conv${i}.filter`, [4, 4, channels, out], 16 * channels);
      this.addUniform(`conv${i}.bias`, [out], 16 * channels);
      channels = out;
    });
    this.addUniform('patch.filter', [3, 3, channels, 1], 9 * channels);
    this.addUniform('patch.bias', [1], 9 * channels);
    this.addUniform('projection.filter', [3, 3, channels, 1], 9 * channels);
  }

  /**
   * images in [-1, 1], [n, size, size, 3], and the label each should show ->
   * one logit per patch, [n, size/8, size/8, 1]: real above 0
   */
  logits(images: tf.Tensor4D, labels: tf.Tensor1D): tf.Tensor4D {
    let h = images;
    widths.forEach((_, i) => {
      const filter = this.get(`conv${i}.filter`) as tf.Tensor4D;
      h = leakyRelu(conv2x(h, filter, this.get(`conv${i}.bias`) as tf.Tensor1D));
    });
    const realism = tf.add(tf.conv2d(h, this.get('patch.filter') as tf.Tensor4D, 1, 'same'), this.get('patch.bias'));
    // The projection: each patch's features against the label's direction, +1 smiling, -1 neutral.
    const direction = tf.reshape(tf.sub(tf.mul(labels, 2), 1), [labels.shape[0], 1, 1, 1]);
    const agreement = tf.conv2d(h, this.get('projection.filter') as tf.Tensor4D, 1, 'same');
    return tf.add(realism, tf.mul(agreement, direction)) as tf.Tensor4D;
  }

  /**
   * The critic's own loss: real faces with their labels read as real; edits
   * with their targets, and real faces with the flipped label, read as not
   * real. The last term (the matching-aware discriminator of text-to-image
   * GANs) is what makes the label count: without it a critic learns realism
   * first, and an edit too faint to show its target passes as real. `weights`
   * (one per patch, see changeWeights) say where to judge.
   */
  loss(
    real: tf.Tensor4D,
    labels: tf.Tensor1D,
    edited: tf.Tensor4D,
    targets: tf.Tensor1D,
    weights?: tf.Tensor4D,
  ): tf.Scalar {
    const realLogits = this.logits(real, labels);
    const editedLogits = this.logits(edited, targets);
    const mismatchedLogits = this.logits(real, tf.sub(1, labels));
    const notReal = tf.add(
      tf.losses.sigmoidCrossEntropy(tf.zerosLike(editedLogits), editedLogits, weights),
      tf.losses.sigmoidCrossEntropy(tf.zerosLike(mismatchedLogits), mismatchedLogits, weights),
    );
    // Halved so that chance stays at 2 ln 2 = 1.39, as with one kind of fake.
    return tf.add(tf.losses.sigmoidCrossEntropy(tf.onesLike(realLogits), realLogits, weights), tf.mul(notReal, 0.5));
  }

  /** The edits' realism loss (the non-saturating GAN loss): low when the critic reads them as real faces of `targets`. */
  realismLoss(edited: tf.Tensor4D, targets: tf.Tensor1D, weights?: tf.Tensor4D): tf.Scalar {
    const logits = this.logits(edited, targets);
    return tf.losses.sigmoidCrossEntropy(tf.onesLike(logits), logits, weights);
  }
}

/**
 * One weight per critic patch, [n, size/8, size/8, 1]: how much the edit
 * changed that patch of its face, each face's weights averaging 1, and no
 * gradient through them. Why: an edit changes the mouth and cheeks and leaves
 * most of the face and the background as they were; those patches cannot be
 * told apart, and with equal weights they held the critic's loss at chance
 * and diluted what it said about the mouth.
 */
export function changeWeights(real: tf.Tensor4D, edited: tf.Tensor4D): tf.Tensor4D {
  const [n, height, width] = real.shape;
  const change = tf.tidy(() => {
    const perPatch = tf.mean(
      tf.avgPool(tf.abs(tf.sub(edited, real)) as tf.Tensor4D, patchSide, patchSide, 'valid'),
      3,
      true,
    );
    const perFace = tf.mean(perPatch, [1, 2, 3], true);
    return tf.div(perPatch, tf.add(perFace, 1e-6));
  });
  // Rebuilt from its values so that no gradient flows back through the weights.
  const detached = tf.tensor4d(change.dataSync(), [n, height / patchSide, width / patchSide, 1]);
  change.dispose();
  return detached;
}
