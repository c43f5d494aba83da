import * as tf from '@tensorflow/tfjs';
import { lumaWeights, maskWeight, residualColourShare } from '../editing/residual-edit.js';
import type { ExpressionNetwork, Part } from '../model/network.js';
import type { ExpressionClassifier } from './expression-classifier.js';
import type { ExpressionJudged } from './schedule.js';
import { changeWeights, type RealismCritic } from './realism-critic.js';

/**
 * What a step trains: the whole network, or the decoder alone. A fine-tune on
 * a handful of faces keeps the encoder (and so the latent that hides the
 * expression) and the discriminator as the base has them, and lets only the
 * decoder learn the person's features: far fewer weights to overfit, and a
 * shorter backward pass.
 */
export type TrainedParts = 'all' | 'decoder';

/** The autoencoder parts a step updates. */
export function autoencoderParts(trained: TrainedParts): Part[] {
  return trained === 'decoder' ? ['decoder'] : ['encoder', 'decoder'];
}

/** The discriminator's variables a step updates (none when it stays as it is). */
function discriminatorVariables(network: ExpressionNetwork, trained: TrainedParts): tf.Variable[] {
  return trained === 'decoder' ? [] : network.trainableOf('discriminator');
}

export interface StepLosses {
  reconstruction: number;
  adversarial: number;
  discriminator: number;
  /** share of the batch whose label the discriminator read correctly from z */
  accuracy: number;
  /** the classifier's loss on images decoded with the flipped label (0 when the step has no expression loss) */
  expression: number;
  /** the edits' realism loss: how surely the critic tells them from real faces (0 without a realism loss) */
  realism: number;
  /** the critic's own loss on real faces and edits (0 without a realism loss; 1.39 is chance) */
  critic: number;
}

/**
 * How a run's expression loss reads its edits: the temperature of the
 * classifier's logits, what it reads, and a factor for each direction of edit.
 */
export interface ExpressionSettings {
  temperature: number;
  judged: ExpressionJudged;
  /** factors of the loss on smiles added (neutral faces) and on smiles removed (smiling faces) */
  directions: ExpressionDirections;
}

export interface ExpressionDirections {
  add: number;
  remove: number;
}

export const defaultExpressionSettings: ExpressionSettings = {
  temperature: 1,
  judged: 'decode',
  directions: { add: 1, remove: 1 },
};

/** The expression loss of a step: a frozen classifier, its weight and how it reads the edits. */
export interface ExpressionLoss extends ExpressionSettings {
  classifier: ExpressionClassifier;
  weight: number;
}

/** A step's expression loss at `weight`: none at 0; a weight without a classifier is an error. */
export function expressionLossOf(
  classifier: ExpressionClassifier | undefined,
  weight: number,
  settings: ExpressionSettings = defaultExpressionSettings,
): ExpressionLoss | undefined {
  if (weight <= 0) return undefined;
  if (!classifier) throw new Error('the expression loss needs a classifier');
  return { classifier, weight, ...settings };
}

/** The realism loss of a step: the critic (which learns in the same step) and the loss's weight. */
export interface RealismLoss {
  critic: RealismCritic;
  weight: number;
}

/** A step's realism loss at `weight`: none at 0; a weight without a critic is an error. */
export function realismLossOf(critic: RealismCritic | undefined, weight: number): RealismLoss | undefined {
  if (weight <= 0) return undefined;
  if (!critic) throw new Error('the realism loss needs a critic');
  return { critic, weight };
}

/** The optional terms of a step's loss, beyond reconstruction and the latent discriminator's. */
export interface ExtraLosses {
  expression?: ExpressionLoss | undefined;
  realism?: RealismLoss | undefined;
  /** the weight of the mouth-focus penalty (see mouthFocusPenalty); 0 or absent: none */
  mouthFocus?: number | undefined;
}

/**
 * Where a smile lives in the aligned crop: rows 60-90% and columns 28-72%,
 * around the mouth of CelebA-aligned faces (the crop the model sees).
 */
export const mouthBox = { top: 0.6, bottom: 0.9, left: 0.28, right: 0.72 } as const;

/**
 * A [1, size, size, 1] map of `weightAt(x, y)` (pixel column and row), made
 * once per size and kept for the process's life.
 */
function pixelMap(cache: Map<number, tf.Tensor4D>, size: number, weightAt: (x: number, y: number) => number) {
  let map = cache.get(size);
  if (!map) {
    const values = new Float32Array(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) values[y * size + x] = weightAt(x, y);
    }
    map = tf.keep(tf.tensor4d(values, [1, size, size, 1]));
    cache.set(size, map);
  }
  return map;
}

const outsideMouthMasks = new Map<number, tf.Tensor4D>();

/** [1, size, size, 1]: 0 inside the mouth box, 1 elsewhere. */
export function outsideMouthMask(size: number): tf.Tensor4D {
  return pixelMap(outsideMouthMasks, size, (x, y) => {
    const inRows = y >= mouthBox.top * size && y < mouthBox.bottom * size;
    const inColumns = x >= mouthBox.left * size && x < mouthBox.right * size;
    return inRows && inColumns ? 0 : 1;
  });
}

/**
 * The mean absolute change between the decodes with the flipped and the true
 * label outside the mouth box. Why: pushed to change the expression, the
 * decoder spreads its change over the cheeks and skin (blotches, darkened
 * shading) that cost identity, while a smile changes the mouth most. On 80
 * test faces, a run with it kept identity for 96% of faces where the same run
 * without it kept 74% (resources/models/README.md).
 */
export function mouthFocusPenalty(edited: tf.Tensor4D, decoded: tf.Tensor4D): tf.Scalar {
  const change = tf.abs(tf.sub(edited, decoded));
  return tf.mean(tf.mul(change, outsideMouthMask(edited.shape[1]))) as tf.Scalar;
}

const editMaskMaps = new Map<number, tf.Tensor4D>();

/** [1, size, size, 1]: the product's feathered edit mask (editMask) at each pixel's centre. */
export function editMaskMap(size: number): tf.Tensor4D {
  return pixelMap(editMaskMaps, size, (x, y) => maskWeight((x + 0.5) / size, (y + 0.5) / size));
}

/**
 * The edit as the product applies it to a face (faceResidual, applyResiduals),
 * at the crop's size: the change between the decodes with the flipped and the
 * true label, its colour limited to residualColourShare and weighted by the
 * feathered mask, added to the face itself. Why it matters: the face keeps the
 * sharp detail the decoder blurs, so a smile's teeth can outlast a change that
 * closes the mouth of the blurred decode.
 */
export function productEdit(images: tf.Tensor4D, edited: tf.Tensor4D, decoded: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const change = tf.sub(edited, decoded);
    const luma = tf.sum(tf.mul(change, tf.tensor1d([...lumaWeights])), -1, true);
    const limited = tf.add(luma, tf.mul(tf.sub(change, luma), residualColourShare));
    const masked = tf.mul(limited, editMaskMap(images.shape[1]));
    return tf.clipByValue(tf.add(images, masked), -1, 1) as tf.Tensor4D;
  });
}

/** Both parts' gradients on some images, keyed by variable name; the caller disposes them. */
export interface Gradients {
  autoencoder: tf.NamedTensorMap;
  discriminator: tf.NamedTensorMap;
  /** the realism critic's, in steps with a realism loss */
  critic: tf.NamedTensorMap;
  losses: StepLosses;
  count: number;
}

/** The same as plain arrays, in the order of the network's trainable variables, to cross threads. */
export interface GradientArrays {
  autoencoder: Float32Array[];
  discriminator: Float32Array[];
  critic: Float32Array[];
  losses: StepLosses;
  count: number;
}

/**
 * The gradients of one step at the current weights. The autoencoder learns to
 * reconstruct while making the latent discriminator read the flipped label
 * (weight mu); with an expression loss, while making the classifier read the
 * flipped label on the image decoded with it; with a realism loss, while making
 * the critic take its edits for real faces. The discriminator learns to read
 * the true label from the same z, detached, and the critic to tell real faces
 * from the same edits. All use the weights as they are before this step's
 * updates.
 */
export function computeGradients(
  network: ExpressionNetwork,
  imageValues: Float32Array,
  labelValues: Float32Array,
  mu: number,
  trained: TrainedParts = 'all',
  extra: ExtraLosses = {},
): Gradients {
  if (trained === 'decoder') return decoderGradients(network, imageValues, labelValues);
  const { expression, realism } = extra;
  const mouthFocus = extra.mouthFocus ?? 0;
  const size = network.config.size;
  const count = labelValues.length;
  const images = tf.tensor4d(imageValues, [count, size, size, 3]);
  const labels = tf.tensor1d(labelValues);
  const classes = labelClasses(labels);
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
    let expressionLoss: tf.Scalar | undefined;
    let realismLoss: tf.Scalar | undefined;
    let edits: tf.Tensor4D | undefined;
    let patchWeights: tf.Tensor4D | undefined;
    // The flipped label as the decoder's input value: 1 for a neutral face, 0 for a smiling one.
    const targets = keep(tf.tidy(() => tf.gather(tf.transpose(flipped), 1) as tf.Tensor1D));
    const ae = tf.variableGrads(
      () => {
        const z = (latent = keep(network.encode(images, true)));
        const decoded = network.decode(z, labels, true);
        reconstruction = keep(tf.losses.meanSquaredError(images, decoded) as tf.Scalar);
        let total: tf.Scalar = reconstruction;
        if (mu > 0) {
          adversarial = keep(tf.losses.softmaxCrossEntropy(flipped, network.discriminate(z, false)) as tf.Scalar);
          total = tf.add(total, tf.mul(adversarial, mu));
        }
        if (!expression && !realism && mouthFocus <= 0) return total;
        const edited = network.decode(z, targets, true);
        if (mouthFocus > 0) total = tf.add(total, tf.mul(mouthFocusPenalty(edited, decoded), mouthFocus));
        if (expression) {
          const judged = expression.judged === 'edit' ? productEdit(images, edited, decoded) : edited;
          const logits = tf.div(expression.classifier.logits(judged), expression.temperature) as tf.Tensor2D;
          expressionLoss = keep(directedCrossEntropy(flipped as tf.Tensor2D, logits, expression.directions));
          total = tf.add(total, tf.mul(expressionLoss, expression.weight));
        }
        if (realism) {
          // The face plus the whole change between the two decodes: the app's edit without its
          // mask and colour limit, which productEdit adds (the critic has judged this form since it was written).
          const edit = tf.clipByValue(tf.add(images, tf.sub(edited, decoded)), -1, 1) as tf.Tensor4D;
          edits = keep(edit);
          patchWeights = keep(changeWeights(images, edit));
          realismLoss = keep(realism.critic.realismLoss(edit, targets, patchWeights));
          total = tf.add(total, tf.mul(realismLoss, realism.weight));
        }
        return total;
      },
      network.trainableOf(['encoder', 'decoder']),
    );
    kept.push(ae.value);
    let logits: tf.Tensor2D | undefined;
    const dis = tf.variableGrads(() => {
      logits = keep(network.discriminate(latent!, true));
      return tf.losses.softmaxCrossEntropy(classes, logits) as tf.Scalar;
    }, network.trainableOf('discriminator'));
    kept.push(dis.value);
    let critic: { value: tf.Scalar; grads: tf.NamedTensorMap } | undefined;
    if (realism) {
      critic = tf.variableGrads(
        () => realism.critic.loss(images, labels, edits!, targets, patchWeights),
        realism.critic.variables(),
      );
      kept.push(critic.value);
    }
    return {
      autoencoder: ae.grads,
      discriminator: dis.grads,
      critic: critic?.grads ?? {},
      losses: readLosses(reconstruction!, logits!, classes, {
        adversarial,
        discriminator: dis.value,
        expression: expressionLoss,
        realism: realismLoss,
        critic: critic?.value,
      }),
      count,
    };
  } finally {
    tf.dispose([images, labels, classes, flipped, ...kept]);
  }
}

/**
 * The decoder's gradients alone: z comes from the encoder as it is and takes no
 * gradient, so the adversarial term (which acts on the encoder) drops out. The
 * discriminator's losses are still measured on z, for the learning curve.
 */
function decoderGradients(network: ExpressionNetwork, imageValues: Float32Array, labelValues: Float32Array): Gradients {
  const size = network.config.size;
  const count = labelValues.length;
  const images = tf.tensor4d(imageValues, [count, size, size, 3]);
  const labels = tf.tensor1d(labelValues);
  const latent = tf.tidy(() => network.encode(images, false));
  const kept: tf.Tensor[] = [images, labels, latent];
  try {
    let reconstruction: tf.Scalar | undefined;
    const ae = tf.variableGrads(() => {
      reconstruction = tf.keep(tf.losses.meanSquaredError(images, network.decode(latent, labels, true)) as tf.Scalar);
      return reconstruction;
    }, network.trainableOf('decoder'));
    const classes = labelClasses(labels);
    const logits = tf.tidy(() => network.discriminate(latent, false));
    kept.push(ae.value, reconstruction!, classes, logits);
    return {
      autoencoder: ae.grads,
      discriminator: {},
      critic: {},
      losses: readLosses(reconstruction!, logits, classes),
      count,
    };
  } finally {
    tf.dispose(kept);
  }
}

/**
 * The mean over the batch of each edit's cross-entropy on its flipped label,
 * times its direction's factor: `add` for the faces asked to smile (flipped
 * class 1), `remove` for the others. With both at 1 it is the plain mean.
 */
export function directedCrossEntropy(
  flipped: tf.Tensor2D,
  logits: tf.Tensor2D,
  directions: ExpressionDirections,
): tf.Scalar {
  return tf.tidy(() => {
    const each = tf.losses.softmaxCrossEntropy(flipped, logits, undefined, undefined, tf.Reduction.NONE);
    const factors = tf.matMul(flipped, tf.tensor2d([directions.remove, directions.add], [2, 1]));
    return tf.mean(tf.mul(each, tf.reshape(factors, [-1]))) as tf.Scalar;
  });
}

/** The discriminator's targets: smiling or not, one-hot (intensity labels are thresholded). */
export function labelClasses(labels: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.cast(tf.greaterEqual(labels, 0.5), 'int32'), 2) as tf.Tensor2D);
}

/**
 * A step's losses read back in one transfer: the adversarial and discriminator
 * terms are measured from the logits unless the step already computed them.
 */
function readLosses(
  reconstruction: tf.Scalar,
  logits: tf.Tensor2D,
  classes: tf.Tensor2D,
  known: {
    adversarial?: tf.Scalar | undefined;
    discriminator?: tf.Scalar;
    expression?: tf.Scalar | undefined;
    realism?: tf.Scalar | undefined;
    critic?: tf.Scalar | undefined;
  } = {},
): StepLosses {
  const measured = tf.tidy(() => {
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(classes, 1)), 'float32'));
    const adversarial = known.adversarial ?? tf.losses.softmaxCrossEntropy(tf.sub(1, classes), logits);
    const discriminator = known.discriminator ?? tf.losses.softmaxCrossEntropy(classes, logits);
    const zero = tf.scalar(0);
    const optional = [known.expression, known.realism, known.critic].map((t) => t ?? zero);
    return tf.stack([reconstruction, adversarial, discriminator, accuracy, ...optional]);
  });
  try {
    const [rec, adv, dis, accuracy, expression, realism, critic] = Array.from(measured.dataSync());
    return {
      reconstruction: rec!,
      adversarial: adv!,
      discriminator: dis!,
      accuracy: accuracy!,
      expression: expression!,
      realism: realism!,
      critic: critic!,
    };
  } finally {
    measured.dispose();
  }
}

export function disposeGradients(gradients: Gradients): void {
  tf.dispose(Object.values(gradients.autoencoder));
  tf.dispose(Object.values(gradients.discriminator));
  tf.dispose(Object.values(gradients.critic));
}

/** Gradients copied in from arrays (see gradientArrays). */
export function gradientsFromArrays(
  network: ExpressionNetwork,
  arrays: GradientArrays,
  trained: TrainedParts = 'all',
  critic?: RealismCritic,
): Gradients {
  const toTensors = (variables: tf.Variable[], values: Float32Array[]) =>
    Object.fromEntries(variables.map((v, i) => [v.name, tf.tensor(values[i]!, v.shape)]));
  return {
    autoencoder: toTensors(network.trainableOf(autoencoderParts(trained)), arrays.autoencoder),
    discriminator: toTensors(discriminatorVariables(network, trained), arrays.discriminator),
    critic: critic && arrays.critic.length > 0 ? toTensors(critic.variables(), arrays.critic) : {},
    losses: arrays.losses,
    count: arrays.count,
  };
}

/** Copies gradients out as arrays in the network's variable order. */
export function gradientArrays(
  network: ExpressionNetwork,
  gradients: Gradients,
  trained: TrainedParts = 'all',
  critic?: RealismCritic,
): GradientArrays {
  const read = (variables: tf.Variable[], map: tf.NamedTensorMap) =>
    variables.map((v) => map[v.name]!.dataSync() as Float32Array);
  return {
    autoencoder: read(network.trainableOf(autoencoderParts(trained)), gradients.autoencoder),
    discriminator: read(discriminatorVariables(network, trained), gradients.discriminator),
    critic: critic && Object.keys(gradients.critic).length > 0 ? read(critic.variables(), gradients.critic) : [],
    losses: gradients.losses,
    count: gradients.count,
  };
}
