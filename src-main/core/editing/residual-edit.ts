import * as tf from '@tensorflow/tfjs';
import { extractCrop, sampleBilinear, type CropFrame } from '../faces/alignment.js';
import type { RgbImage } from '../images/read-image.js';
import type { ExpressionModel } from '../model/expression-model.js';

/** One face to change: where it is, the expression it shows, the expression wanted. */
export interface FaceEdit {
  frame: CropFrame;
  /** expression value the face shows now (0 neutral, 1 smiling) */
  source: number;
  /** expression value wanted; between and slightly beyond 0..1 sets the intensity */
  target: number;
}

/**
 * Where in the aligned crop an edit may change pixels: an ellipse over the
 * eyes, cheeks, mouth and chin of a CelebA-aligned face, feathered over its
 * outer part. Outside it the weight is exactly 0.
 */
export const editMask = { centerX: 0.5, centerY: 0.6, radiusX: 0.34, radiusY: 0.38, feather: 0.35 } as const;

/** Mask weight at crop coordinates (u, v) in [0, 1]. */
export function maskWeight(u: number, v: number): number {
  const dx = (u - editMask.centerX) / editMask.radiusX;
  const dy = (v - editMask.centerY) / editMask.radiusY;
  const r = Math.sqrt(dx * dx + dy * dy);
  if (r >= 1) return 0;
  const inner = 1 - editMask.feather;
  if (r <= inner) return 1;
  const t = (1 - r) / editMask.feather;
  return t * t * (3 - 2 * t); // smoothstep: no visible seam at either edge
}

/**
 * The change the model makes to a face, as a residual at the model's size:
 * decode(crop, target) - decode(crop, source), in 8-bit pixel units. The
 * difference cancels what the model cannot reproduce (identity, detail), so
 * only the expression change is carried back to the photo.
 */
/** An 8-bit RGB crop at the model's size as the model's input: [1, size, size, 3] in [-1, 1]. */
export function cropInput(crop: Uint8Array, size: number): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.div(tf.tensor4d(crop, [1, size, size, 3], 'float32'), 127.5), 1) as tf.Tensor4D);
}

export function faceResidual(model: ExpressionModel, photo: RgbImage, edit: FaceEdit): Float32Array {
  const size = model.config.size;
  const crop = extractCrop(photo, edit.frame, size);
  return tf.tidy(() => {
    const input = cropInput(crop, size);
    const [fromSource, toTarget] = model.predictMany(input, [[edit.source], [edit.target]]);
    return tf.mul(tf.sub(toTarget!, fromSource!), 127.5).dataSync() as Float32Array;
  });
}

/**
 * Applies each face's residual to a copy of the photo at its full resolution:
 * every photo pixel under a face's mask reads the residual through the inverse
 * alignment (bilinear), weighted by the feathered mask. Pixels outside every
 * mask are copied unchanged, bit for bit.
 */
export function applyResiduals(
  photo: RgbImage,
  faces: { frame: CropFrame; residual: Float32Array; size: number }[],
): RgbImage {
  const data = new Uint8Array(photo.data);
  for (const face of faces) applyOne(photo, data, face.frame, face.residual, face.size);
  return { ...photo, data };
}

export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The pixels a face's mask can reach (a box around the rotated crop square), clipped to the photo. */
export function maskBounds(frame: CropFrame, width: number, height: number): Region {
  const reach = frame.size * 0.75;
  const left = Math.max(0, Math.floor(frame.centerX - reach));
  const top = Math.max(0, Math.floor(frame.centerY - reach));
  const right = Math.min(width - 1, Math.ceil(frame.centerX + reach));
  const bottom = Math.min(height - 1, Math.ceil(frame.centerY + reach));
  return { left, top, width: Math.max(0, right - left + 1), height: Math.max(0, bottom - top + 1) };
}

/** The smallest box holding every face's mask: all an edit can have changed. */
export function editedRegion(frames: CropFrame[], width: number, height: number): Region | undefined {
  const boxes = frames.map((f) => maskBounds(f, width, height)).filter((b) => b.width > 0 && b.height > 0);
  if (boxes.length === 0) return undefined;
  const left = Math.min(...boxes.map((b) => b.left));
  const top = Math.min(...boxes.map((b) => b.top));
  const right = Math.max(...boxes.map((b) => b.left + b.width));
  const bottom = Math.max(...boxes.map((b) => b.top + b.height));
  return { left, top, width: right - left, height: bottom - top };
}

function applyOne(photo: RgbImage, out: Uint8Array, frame: CropFrame, residual: Float32Array, size: number): void {
  const cos = Math.cos(frame.angle);
  const sin = Math.sin(frame.angle);
  // Only pixels the mask can reach are visited.
  const bounds = maskBounds(frame, photo.width, photo.height);
  const x0 = bounds.left;
  const x1 = bounds.left + bounds.width - 1;
  const y0 = bounds.top;
  const y1 = bounds.top + bounds.height - 1;
  const sample = [0, 0, 0];
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      // Inverse similarity: photo pixel centre -> crop fractions.
      const px = x + 0.5 - frame.centerX;
      const py = y + 0.5 - frame.centerY;
      const u = (cos * px + sin * py) / frame.size + 0.5;
      const v = (-sin * px + cos * py) / frame.size + 0.5;
      const weight = maskWeight(u, v);
      if (weight === 0) continue;
      sampleBilinear(residual, size, size, u * size - 0.5, v * size - 0.5, sample);
      const o = (y * photo.width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const value = out[o + c]! + weight * sample[c]!;
        out[o + c] = value < 0 ? 0 : value > 255 ? 255 : Math.round(value);
      }
    }
  }
}
