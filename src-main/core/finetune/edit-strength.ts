import * as tf from '@tensorflow/tfjs';
import { cropInput, maskWeight } from '../editing/residual-edit.js';
import { extractCrop } from '../faces/alignment.js';
import type { GridFace } from '../evaluation/grid.js';
import { editScaleRange, type ExpressionModel } from '../model/expression-model.js';
import { tidyValues } from '../util/tidy-values.js';

/** A profile's edits are never scaled beyond this factor either way: past it, something went wrong. */
const maxScaleChange = 2;

/**
 * How strongly a model changes the expression of these faces: the mean change
 * between decoding each with label 0 and with label 1, weighted by the edit
 * mask, in grey levels. Its own edit scale is not applied.
 */
export function labelResponse(model: ExpressionModel, faces: GridFace[]): number {
  if (faces.length === 0) throw new Error('the label response needs at least one face');
  const size = model.config.size;
  const weights = maskWeights(size);
  let sum = 0;
  for (const face of faces) {
    const crop = extractCrop(face.image, face.frame, size);
    const change = tidyValues(() => {
      const [neutral, smiling] = model.predictMany(cropInput(crop, size), [[0], [1]]);
      return tf.mul(tf.mean(tf.abs(tf.sub(smiling!, neutral!)), 3), 127.5);
    });
    let weighted = 0;
    for (let i = 0; i < change.length; i++) weighted += change[i]! * weights.values[i]!;
    sum += weighted / weights.total;
  }
  return sum / faces.length;
}

/**
 * The edit scale that makes a fine-tuned model change these faces as strongly
 * as the model it was tuned from does (with that model's own scale). A short
 * fine-tune on a few faces of one person shifts how strongly the decoder uses
 * the label (by up to a quarter either way on CelebA people). The fine-tune
 * should change how that person is drawn, not what an intensity means, so the
 * profile's edits are scaled back to the base's strength.
 */
export function calibratedEditScale(base: ExpressionModel, tuned: ExpressionModel, faces: GridFace[]): number {
  const wanted = labelResponse(base, faces);
  const got = labelResponse(tuned, faces);
  // A tuned model that no longer responds to the label gets the largest scale allowed.
  const ratio = got > 0 ? wanted / got : wanted > 0 ? maxScaleChange : 1;
  const bounded = Math.min(maxScaleChange, Math.max(1 / maxScaleChange, ratio));
  // Profiles tuned from profiles compound their scales: keep the result one a model may have.
  return Math.min(editScaleRange[1], Math.max(editScaleRange[0], base.editScale * bounded));
}

function maskWeights(size: number): { values: Float32Array; total: number } {
  const values = new Float32Array(size * size);
  let total = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const weight = maskWeight((x + 0.5) / size, (y + 0.5) / size);
      values[y * size + x] = weight;
      total += weight;
    }
  }
  return { values, total };
}
