import * as tf from '@tensorflow/tfjs';
import type { ExpressionModel } from '../model/expression-model.js';
import { loadFaceDataset, readColumns, type DatasetOptions, type FaceDataset } from '../training/dataset.js';
import { cropInput } from '../editing/residual-edit.js';
import { labelClasses } from '../training/gradients.js';
import { mulberry } from '../util/random.js';

/*
 * How much of the label the latent code still carries. Training only checks
 * that its own latent discriminator, which learns alongside the encoder, cannot
 * read the label from z; an encoder can keep ahead of that one discriminator and
 * still carry the label in a form it misses. A fresh classifier, trained on the
 * frozen codes of training faces and tested on other people's, says whether
 * the label is really gone. Where it is not, the decoder reads it from z and the
 * label planes barely change the output: edits are faint.
 */

export interface ProbeOptions extends Pick<DatasetOptions, 'imagesDir' | 'labelsCsv' | 'labelColumn'> {
  /** training faces the probe learns from (the `train` split) */
  trainFaces?: number;
  /** faces it is tested on (the `test` split: people never seen in training) */
  testFaces?: number;
  /** Adam steps of 64 codes */
  steps?: number;
  seed?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface ProbeReport {
  trainFaces: number;
  testFaces: number;
  /** share of the test faces in the larger class: what reading nothing scores */
  chance: number;
  /** the fresh classifier's accuracy on the test faces' codes */
  probeAccuracy: number;
  /** the model's own latent discriminator's accuracy on the same codes */
  discriminatorAccuracy: number;
  /**
   * The other 0/1 column of the labels CSV that alone (or its opposite) tells
   * the label best on the same test faces, and its accuracy; absent when the
   * CSV has none. Why: z must keep what reconstruction needs, and in CelebA
   * `High_Cheekbones` alone tells `smiling` for 85% of faces. A probe that
   * reads no more than such a column may be reading that column.
   */
  strongestColumn?: StrongestColumn;
}

export interface StrongestColumn {
  column: string;
  /** the share of test faces whose label it tells, alone */
  accuracy: number;
  /**
   * The probe within each of the column's groups (its 0s, its 1s), against
   * the group's own majority share: a probe that beats the majority inside
   * the groups reads more from z than that column.
   */
  groups: ColumnGroup[];
}

export interface ColumnGroup {
  value: string;
  faces: number;
  probeAccuracy: number;
  /** the share of the group's faces in its larger class */
  majority: number;
}

/** The probe: codes -> 512 leaky-ReLU units -> two classes (the latent discriminator has two such hidden layers). */
const hiddenUnits = 512;
const batchSize = 64;
const encodeBatch = 64;

export async function probeLatent(model: ExpressionModel, options: ProbeOptions): Promise<ProbeReport> {
  const { size } = model.config;
  const load = (split: string, limit: number) =>
    loadFaceDataset({
      imagesDir: options.imagesDir,
      labelsCsv: options.labelsCsv,
      labelColumn: options.labelColumn,
      split,
      limit,
      size,
      onProgress: (done, total) => options.onProgress?.(`decoding ${split} faces`, done, total),
    });
  const train = await load('train', options.trainFaces ?? 3000);
  const test = await load('test', options.testFaces ?? 1000);
  const trainCodes = tf.tidy(() => flattened(encodeAll(model, train)));
  const testCodes = encodeAll(model, test);
  const trainClasses = tf.tidy(() => labelClasses(tf.tensor1d(train.labels)));
  try {
    const discriminatorAccuracy = shareRight(
      test.labels,
      predictedClasses(() => model.network.discriminate(testCodes)),
    );
    const probe = trainProbe(trainCodes, trainClasses, options);
    const predicted = predictedClasses(() => probe.logits(flattened(testCodes)));
    probe.dispose();
    const columns = await readColumns(options.labelsCsv, test.files);
    columns.delete(options.labelColumn);
    const best = strongestColumn(columns, test.labels);
    const strongest = best && { ...best, groups: columnGroups(columns.get(best.column)!, test.labels, predicted) };
    return {
      trainFaces: train.count,
      testFaces: test.count,
      chance: largerClassShare(test.labels),
      probeAccuracy: shareRight(test.labels, predicted),
      discriminatorAccuracy,
      ...(strongest ? { strongestColumn: strongest } : {}),
    };
  } finally {
    tf.dispose([trainCodes, testCodes, trainClasses]);
  }
}

/**
 * The column whose 0/1 values (or their opposites) agree with the labels
 * (thresholded at 0.5) most often, and that share. Columns with any other
 * value (file names, identities, splits) are not candidates.
 */
export function strongestColumn(
  columns: Map<string, string[]>,
  labels: Float32Array,
): { column: string; accuracy: number } | undefined {
  let best: { column: string; accuracy: number } | undefined;
  for (const [column, values] of columns) {
    const flags = values.map((v) => v.trim());
    if (flags.length === 0 || !flags.every((v) => v === '0' || v === '1')) continue;
    const agree = flags.filter((v, i) => (v === '1') === shows(labels[i]!)).length;
    const accuracy = Math.max(agree, flags.length - agree) / flags.length;
    if (!best || accuracy > best.accuracy) best = { column, accuracy };
  }
  return best;
}

/** Whether a label shows the attribute, as the latent discriminator reads it (intensities thresholded at 0.5). */
function shows(label: number): boolean {
  return label >= 0.5;
}

/** The share of faces in the larger class: what reading nothing scores. */
function largerClassShare(labels: ArrayLike<number>): number {
  const shown = Array.from(labels).filter(shows).length / labels.length;
  return Math.max(shown, 1 - shown);
}

/** The share of faces whose class the predictions name. */
function shareRight(labels: ArrayLike<number>, predicted: ArrayLike<number>): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) if ((shows(labels[i]!) ? 1 : 0) === predicted[i]) right++;
  return right / labels.length;
}

/** The class each row of the logits names (what computes them is tidied away). */
function predictedClasses(logits: () => tf.Tensor2D): Int32Array {
  return tf.tidy(() => tf.argMax(logits(), 1).dataSync() as Int32Array);
}

/** For each value of a column, the predictions' accuracy on its faces and the faces' larger class. */
export function columnGroups(values: string[], labels: Float32Array, predicted: ArrayLike<number>): ColumnGroup[] {
  return [...new Set(values.map((v) => v.trim()))].sort().map((value) => {
    const faces = values.flatMap((v, i) => (v.trim() === value ? [i] : []));
    const groupLabels = faces.map((i) => labels[i]!);
    return {
      value,
      faces: faces.length,
      probeAccuracy: shareRight(
        groupLabels,
        faces.map((i) => predicted[i]!),
      ),
      majority: largerClassShare(groupLabels),
    };
  });
}

/** Every face's latent code, as the latent discriminator reads it. */
function encodeAll(model: ExpressionModel, data: FaceDataset): tf.Tensor4D {
  const pixels = data.size * data.size * 3;
  const parts: tf.Tensor4D[] = [];
  for (let start = 0; start < data.count; start += encodeBatch) {
    const crops = data.images.subarray(start * pixels, Math.min(start + encodeBatch, data.count) * pixels);
    parts.push(tf.tidy(() => model.network.encode(cropInput(crops, data.size))));
  }
  const codes = tf.concat(parts);
  tf.dispose(parts);
  return codes;
}

/** The codes as vectors: [count, code length]. */
function flattened(codes: tf.Tensor4D): tf.Tensor2D {
  return tf.reshape(codes, [codes.shape[0], -1]);
}

function trainProbe(
  codes: tf.Tensor2D,
  /** one-hot, one row per code */
  classes: tf.Tensor2D,
  options: ProbeOptions,
): { logits: (codes: tf.Tensor2D) => tf.Tensor2D; dispose: () => void } {
  const seed = options.seed ?? 1;
  const inputs = codes.shape[1];
  // In a tidy, so that the initial values the variables copy are freed.
  const weights = tf.tidy(() => [
    tf.variable(tf.randomNormal([inputs, hiddenUnits], 0, Math.sqrt(2 / inputs), 'float32', seed)),
    tf.variable(tf.zeros([hiddenUnits])),
    tf.variable(tf.randomNormal([hiddenUnits, 2], 0, Math.sqrt(2 / hiddenUnits), 'float32', seed + 1)),
    tf.variable(tf.zeros([2])),
  ]) as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
  const logits = (x: tf.Tensor2D) =>
    tf.add(
      tf.matMul(tf.leakyRelu(tf.add(tf.matMul(x, weights[0]), weights[1]), 0.2), weights[2]),
      weights[3],
    ) as tf.Tensor2D;
  const optimizer = tf.train.adam(1e-3);
  const random = mulberry(seed);
  const steps = options.steps ?? 2000;
  for (let step = 1; step <= steps; step++) {
    const picked = Int32Array.from({ length: batchSize }, () => Math.floor(random() * codes.shape[0]));
    tf.tidy(() => {
      const batch = tf.tensor1d(picked, 'int32');
      optimizer.minimize(() =>
        tf.losses.softmaxCrossEntropy(tf.gather(classes, batch), logits(tf.gather(codes, batch))),
      );
    });
    if (step % 100 === 0 || step === steps) options.onProgress?.('training the probe', step, steps);
  }
  return {
    logits,
    dispose: () => {
      optimizer.dispose();
      tf.dispose([...weights]);
    },
  };
}
