import * as tf from '@tensorflow/tfjs';
import { cropBounds, extractCrop, type CropFrame } from '../faces/alignment.js';
import { wholeArea, type PhotoArea, type RgbImage } from '../images/read-image.js';
import type { ExpressionModel } from '../model/expression-model.js';
import { tidyValues } from '../util/tidy-values.js';

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

/** 8-bit RGB crops at the model's size, one after another, as the model's input: [count, size, size, 3] in [-1, 1]. */
export function cropInput(crops: Uint8Array, size: number): tf.Tensor4D {
  const count = crops.length / (size * size * 3);
  return tf.tidy(() => tf.sub(tf.div(tf.tensor4d(crops, [count, size, size, 3], 'float32'), 127.5), 1) as tf.Tensor4D);
}

/** The model's decode of a crop with one label, back in 8-bit pixel values (how reconstruction is measured). */
export function decodedPixels(model: ExpressionModel, crop: Uint8Array, label: number): Float32Array {
  const size = model.config.size;
  return tidyValues(() => {
    const output = model.predict(cropInput(crop, size), [label]);
    return tf.round(tf.clipByValue(tf.mul(tf.add(output, 1), 127.5), 0, 255));
  });
}

/**
 * Share of the residual's colour (each pixel's departure from its own grey
 * level) that reaches the photo. An expression is a change of shape and
 * shading; the model's colour changes at 64 px show on photos as pink or
 * purple blotches around the mouth. With 30% of them kept, the judge read as
 * many edited faces as smiling as with all of them (60% of 30 neutral test faces).
 */
export const residualColourShare = 0.3;

/** Rec. 601 weights of red, green and blue in a pixel's luma. */
export const lumaWeights = [0.299, 0.587, 0.114] as const;

/** Scales each pixel's colour difference from its luma by `share`, in place; the luma change stays whole. */
export function limitColour(residual: Float32Array, share: number): Float32Array {
  const [red, green, blue] = lumaWeights;
  for (let p = 0; p < residual.length; p += 3) {
    const luma = red * residual[p]! + green * residual[p + 1]! + blue * residual[p + 2]!;
    for (let c = p; c < p + 3; c++) residual[c] = luma + (residual[c]! - luma) * share;
  }
  return residual;
}

/**
 * Where a removal's change is this large (luma, 8-bit levels), the photo may
 * give way to the model's drawing (see Handover): not below the first level,
 * wholly above the second.
 */
export type HandoverLevels = readonly [low: number, high: number];

/**
 * The change the model makes to a face, at the model's size:
 * decode(crop, target) - decode(crop, source), in 8-bit pixel units, with its
 * colour limited (see residualColourShare). The difference cancels what the
 * model cannot reproduce (identity, detail), so only the expression change is
 * carried back to the photo, added to it.
 */
export function faceResidual(model: ExpressionModel, photo: RgbImage | PhotoArea, edit: FaceEdit): Float32Array {
  return faceChange(model, photo, edit).residual;
}

/**
 * Added to the photo, a change cannot take away what the photo has and the
 * target lacks: a smile's sharp teeth show through a mouth the model has
 * closed. Where the change is large, a handover lets the photo give way to the
 * model's own drawing of the face with the target label instead (`weights`, 0
 * to 1 per crop pixel; the residual is scaled down by the same amount there).
 * Removals only: on additions it cost identity for a third of the faces.
 */
export interface Handover {
  weights: Float32Array;
  /** the model's decode with the target label, 8-bit RGB at the model's size */
  drawing: Uint8Array;
}

export interface FaceChange {
  residual: Float32Array;
  handover?: Handover;
}

/** faceResidual, and with `handoverLevels` a removal's handover (see Handover). */
export function faceChange(
  model: ExpressionModel,
  photo: RgbImage | PhotoArea,
  edit: FaceEdit,
  handoverLevels?: HandoverLevels,
): FaceChange {
  const size = model.config.size;
  const crop = extractCrop(photo, edit.frame, size);
  const handingOver = handoverLevels !== undefined && edit.target < edit.source;
  // With a handover, the drawing comes back in the same read, after the change.
  const values = tidyValues(() => {
    const input = cropInput(crop, size);
    // A profile's edits are scaled to the strength of the model it was tuned from.
    const target = edit.source + model.editScale * (edit.target - edit.source);
    const [fromSource, toTarget] = model.predictMany(input, [[edit.source], [target]]);
    const change = tf.mul(tf.sub(toTarget!, fromSource!), 127.5);
    if (!handingOver) return change;
    return tf.concat([change, tf.round(tf.clipByValue(tf.mul(tf.add(toTarget!, 1), 127.5), 0, 255))]);
  });
  const pixels = size * size * 3;
  const residual = values.subarray(0, pixels);
  if (!handingOver) return { residual: limitColour(residual, residualColourShare) };
  const weights = handoverWeights(residual, size, handoverLevels);
  limitColour(residual, residualColourShare);
  for (let p = 0; p < weights.length; p++) {
    for (let c = p * 3; c < p * 3 + 3; c++) residual[c] = residual[c]! * (1 - weights[p]!);
  }
  return { residual, handover: { weights, drawing: Uint8Array.from(values.subarray(pixels)) } };
}

/**
 * Per crop pixel, how far the photo gives way to the model's drawing: a
 * smooth step of the luma change between the two levels, widened by a pixel
 * (the old detail's edges lie just outside where the change peaks) and
 * softened by a 3 x 3 mean, so that its border does not show.
 */
export function handoverWeights(residual: Float32Array, size: number, [low, high]: HandoverLevels): Float32Array {
  const [red, green, blue] = lumaWeights;
  const step = new Float32Array(size * size);
  for (let p = 0; p < step.length; p++) {
    const luma = Math.abs(red * residual[p * 3]! + green * residual[p * 3 + 1]! + blue * residual[p * 3 + 2]!);
    const t = Math.min(1, Math.max(0, (luma - low) / Math.max(high - low, 1e-6)));
    step[p] = t * t * (3 - 2 * t);
  }
  return neighbourhood(neighbourhood(step, size, Math.max), size, (a, b) => a + b, 1 / 9);
}

/** Each pixel's 3 x 3 neighbourhood (clipped at the edges, where fewer are folded) folded by `fold`, times `scale`. */
function neighbourhood(
  values: Float32Array,
  size: number,
  fold: (a: number, b: number) => number,
  scale = 1,
): Float32Array {
  const out = new Float32Array(values.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let folded = values[y * size + x]!;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          const inside = yy >= 0 && yy < size && xx >= 0 && xx < size;
          if ((dx !== 0 || dy !== 0) && inside) folded = fold(folded, values[yy * size + xx]!);
        }
      }
      out[y * size + x] = folded * scale;
    }
  }
  return out;
}

/**
 * Applies each face's residual to a copy of the photo at its full resolution:
 * every photo pixel under a face's mask reads the residual through the inverse
 * alignment (bilinear), weighted by the feathered mask. Pixels outside every
 * mask are copied unchanged, bit for bit.
 */
export function applyResiduals(photo: RgbImage, faces: FaceResidual[]): RgbImage {
  const data = new Uint8Array(photo.data);
  applyResidualsInPlace({ ...wholeArea(photo), data }, faces);
  return { ...photo, data };
}

export interface FaceResidual extends FaceChange {
  frame: CropFrame;
  size: number;
}

/**
 * `applyResiduals` on an area of a photo, changing its pixels: a large photo
 * is edited in the box its faces reach (`readRegion`) without a whole-image copy.
 */
export function applyResidualsInPlace(area: PhotoArea, faces: FaceResidual[]): void {
  for (const face of faces) applyOne(area, face);
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
  return boundingBox(frames.map((f) => maskBounds(f, width, height)));
}

function boundingBox(regions: Region[]): Region | undefined {
  const boxes = regions.filter((b) => b.width > 0 && b.height > 0);
  if (boxes.length === 0) return undefined;
  const left = Math.min(...boxes.map((b) => b.left));
  const top = Math.min(...boxes.map((b) => b.top));
  const right = Math.max(...boxes.map((b) => b.left + b.width));
  const bottom = Math.max(...boxes.map((b) => b.top + b.height));
  return { left, top, width: right - left, height: bottom - top };
}

/**
 * The box of a photo to read for editing these faces: what their crops sample
 * and their masks can change (each of `cropBounds` and `maskBounds`).
 */
export function readRegion(frames: CropFrame[], width: number, height: number): Region | undefined {
  return boundingBox(frames.flatMap((f) => [maskBounds(f, width, height), cropBounds(f, width, height)]));
}

function applyOne(area: PhotoArea, face: FaceResidual): void {
  const { frame, residual, size, handover } = face;
  const drawing = handover?.drawing;
  const { data, left, top, width } = area;
  const cos = Math.cos(frame.angle);
  const sin = Math.sin(frame.angle);
  // Only pixels the mask can reach are visited.
  const bounds = maskBounds(frame, area.photoWidth, area.photoHeight);
  if (bounds.width === 0 || bounds.height === 0) return;
  const x0 = bounds.left;
  const x1 = bounds.left + bounds.width - 1;
  const y0 = bounds.top;
  const y1 = bounds.top + bounds.height - 1;
  if (x0 < left || y0 < top || x1 >= left + width || y1 >= top + area.height) {
    throw new Error('the area edited does not hold the face mask');
  }
  const span = maskSpans(frame, cos, sin);
  const last = size - 1;
  // Crop fractions are linear in the photo column: u = u0 + du * x along a row.
  const du = cos / frame.size;
  const dv = -sin / frame.size;
  // The hot loop of a photo edit (a large face has a million pixels under its mask): the
  // residual's bilinear sample and the mask are written out here, with no call or temporary
  // per pixel.
  for (let y = y0; y <= y1; y++) {
    const columns = span(y);
    if (!columns) continue;
    const from = Math.max(x0, columns[0]);
    const to = Math.min(x1, columns[1]);
    const py = y + 0.5 - frame.centerY;
    const px0 = 0.5 - frame.centerX;
    const u0 = (cos * px0 + sin * py) / frame.size + 0.5;
    const v0 = (-sin * px0 + cos * py) / frame.size + 0.5;
    for (let x = from; x <= to; x++) {
      // Inverse similarity: photo pixel centre -> crop fractions.
      const u = u0 + du * x;
      const v = v0 + dv * x;
      const weight = maskWeight(u, v);
      if (weight === 0) continue;
      // Bilinear, clamped to the residual's edges (as sampleBilinear).
      const sx = Math.min(Math.max(u * size - 0.5, 0), last);
      const sy = Math.min(Math.max(v * size - 0.5, 0), last);
      const cx = Math.floor(sx);
      const cy = Math.floor(sy);
      const fx = sx - cx;
      const fy = sy - cy;
      const cx1 = cx < last ? cx + 1 : last;
      const cy1 = cy < last ? cy + 1 : last;
      const i00 = (cy * size + cx) * 3;
      const i01 = (cy * size + cx1) * 3;
      const i10 = (cy1 * size + cx) * 3;
      const i11 = (cy1 * size + cx1) * 3;
      const w00 = weight * (1 - fx) * (1 - fy);
      const w01 = weight * fx * (1 - fy);
      const w10 = weight * (1 - fx) * fy;
      const w11 = weight * fx * fy;
      const o = ((y - top) * width + x - left) * 3;
      // How far the photo gives way to the model's drawing, over the weight the mask already gives.
      const given = handover
        ? handover.weights[i00 / 3]! * w00 +
          handover.weights[i01 / 3]! * w01 +
          handover.weights[i10 / 3]! * w10 +
          handover.weights[i11 / 3]! * w11
        : 0;
      for (let c = 0; c < 3; c++) {
        let change =
          residual[i00 + c]! * w00 + residual[i01 + c]! * w01 + residual[i10 + c]! * w10 + residual[i11 + c]! * w11;
        if (drawing && given > 0) {
          const drawnValue =
            (drawing[i00 + c]! * w00 + drawing[i01 + c]! * w01 + drawing[i10 + c]! * w10 + drawing[i11 + c]! * w11) /
            weight;
          change += given * (drawnValue - data[o + c]!);
        }
        const value = data[o + c]! + change;
        // (value + 0.5) | 0 is Math.round for the values in 0..255 here, at a fraction of its cost.
        data[o + c] = value < 0 ? 0 : value > 255 ? 255 : (value + 0.5) | 0;
      }
    }
  }
}

/**
 * For each photo row, the columns where a frame's mask can be non-zero: the
 * row through the mask's ellipse, grown by two pixels all round so that
 * rounding can never leave out a pixel the exact test (maskWeight) keeps.
 * Within them every pixel is still tested; a large face's box is mostly
 * outside its ellipse, and skipping that part is most of the edit's time.
 */
function maskSpans(frame: CropFrame, cos: number, sin: number): (y: number) => [number, number] | undefined {
  const rx = editMask.radiusX * frame.size + 2;
  const ry = editMask.radiusY * frame.size + 2;
  // The ellipse's centre in photo pixels (the crop's axes turn by the frame's angle).
  const ex = (editMask.centerX - 0.5) * frame.size;
  const ey = (editMask.centerY - 0.5) * frame.size;
  const centreX = frame.centerX + cos * ex - sin * ey;
  const centreY = frame.centerY + sin * ex + cos * ey;
  // A pixel centre at (qx, qy) from it is inside when A qx^2 + B qx + C < 0.
  const a = (cos * cos) / (rx * rx) + (sin * sin) / (ry * ry);
  const b = 2 * cos * sin * (1 / (rx * rx) - 1 / (ry * ry));
  const c = (sin * sin) / (rx * rx) + (cos * cos) / (ry * ry);
  return (y) => {
    const qy = y + 0.5 - centreY;
    const bq = b * qy;
    const d = bq * bq - 4 * a * (c * qy * qy - 1);
    if (!(d >= 0)) return undefined;
    const root = Math.sqrt(d);
    const x = centreX - 0.5;
    return [Math.floor(x + (-bq - root) / (2 * a)), Math.ceil(x + (-bq + root) / (2 * a))];
  };
}
