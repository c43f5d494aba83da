import { wholeArea, type PhotoArea, type RgbImage } from '../images/read-image.js';

export interface Point {
  x: number;
  y: number;
}

/**
 * The square a face's aligned crop covers in the photo: centre and side in
 * photo pixels, rotation in radians (positive turns the square clockwise on
 * screen). The crop tool edits exactly this.
 */
export interface CropFrame {
  centerX: number;
  centerY: number;
  size: number;
  angle: number;
}

/**
 * Where the eyes and the mouth sit in the training crops, as fractions of the
 * square: CelebA's aligned images (178x218) average eyes at (69.4, 111.0) and
 * (107.9, 111.3) and mouth corners at y 152.4, and the model sees rows 20..198.
 */
export const celebaReference = {
  leftEye: { x: 69.4 / 178, y: (111.1 - 20) / 178 },
  rightEye: { x: 107.9 / 178, y: (111.1 - 20) / 178 },
  mouth: { x: 88.8 / 178, y: (152.4 - 20) / 178 },
} as const;

const mean = (points: Point[]): Point => ({
  x: points.reduce((s, p) => s + p.x, 0) / points.length,
  y: points.reduce((s, p) => s + p.y, 0) / points.length,
});

/** The eye centres and mouth centre of face-api's 68-point landmarks. */
export function keyPoints(landmarks: Point[]): { leftEye: Point; rightEye: Point; mouth: Point } {
  if (landmarks.length !== 68) throw new Error(`expected 68 landmarks, got ${landmarks.length}`);
  return {
    leftEye: mean(landmarks.slice(36, 42)),
    rightEye: mean(landmarks.slice(42, 48)),
    mouth: mean(landmarks.slice(48, 68)),
  };
}

/**
 * The crop frame that puts the eyes and mouth where the training crops have
 * them: a least-squares similarity fit (scale, rotation, shift) of the three
 * reference points onto the detected ones.
 */
export function alignedFrame(landmarks: Point[]): CropFrame {
  const detected = keyPoints(landmarks);
  const pairs: [Point, Point][] = [
    [celebaReference.leftEye, detected.leftEye],
    [celebaReference.rightEye, detected.rightEye],
    [celebaReference.mouth, detected.mouth],
  ];
  const u0 = mean(pairs.map(([u]) => u));
  const p0 = mean(pairs.map(([, p]) => p));
  // With points as complex numbers, the best similarity is p - p0 = a (u - u0), a = sum(conj(u') p') / sum(|u'|^2).
  let re = 0;
  let im = 0;
  let norm = 0;
  for (const [u, p] of pairs) {
    const ux = u.x - u0.x;
    const uy = u.y - u0.y;
    const px = p.x - p0.x;
    const py = p.y - p0.y;
    re += ux * px + uy * py;
    im += ux * py - uy * px;
    norm += ux * ux + uy * uy;
  }
  const a = { re: re / norm, im: im / norm };
  // The crop's centre is the image of u = (0.5, 0.5).
  const dx = 0.5 - u0.x;
  const dy = 0.5 - u0.y;
  return {
    centerX: p0.x + a.re * dx - a.im * dy,
    centerY: p0.y + a.im * dx + a.re * dy,
    size: Math.hypot(a.re, a.im),
    angle: Math.atan2(a.im, a.re),
  };
}

/** Photo coordinates of a point of the crop given as fractions (0..1) of its side. */
export function cropToPhoto(frame: CropFrame, u: number, v: number): Point {
  const cos = Math.cos(frame.angle) * frame.size;
  const sin = Math.sin(frame.angle) * frame.size;
  const x = u - 0.5;
  const y = v - 0.5;
  return { x: frame.centerX + cos * x - sin * y, y: frame.centerY + sin * x + cos * y };
}

/**
 * Renders the aligned crop at side `size` (RGB, row-major). Each output pixel
 * averages a grid of bilinear samples as fine as the photo's pixels under it
 * (up to 4x4), so large faces are not aliased; outside the photo the nearest
 * edge pixel is repeated, so faces cut by the border still give a full crop.
 * An area must hold the pixels `cropBounds` names.
 */
export function extractCrop(image: RgbImage | PhotoArea, frame: CropFrame, size: number): Uint8Array {
  const area = 'photoWidth' in image ? image : wholeArea(image);
  const out = new Uint8Array(size * size * 3);
  const samples = Math.min(4, Math.max(1, Math.ceil(frame.size / size)));
  const sample = [0, 0, 0];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const u = (x + (sx + 0.5) / samples) / size;
          const v = (y + (sy + 0.5) / samples) / size;
          const p = cropToPhoto(frame, u, v);
          sampleArea(area, p.x - 0.5, p.y - 0.5, sample);
          r += sample[0]!;
          g += sample[1]!;
          b += sample[2]!;
        }
      }
      const n = samples * samples;
      const o = (y * size + x) * 3;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
    }
  }
  return out;
}

/**
 * The photo pixels `extractCrop` reads for a frame: the box around the rotated
 * crop square (half its diagonal from the centre) with two pixels more on each
 * side for the bilinear neighbours, clipped to the photo.
 */
export function cropBounds(
  frame: CropFrame,
  width: number,
  height: number,
): { left: number; top: number; width: number; height: number } {
  const reach = frame.size * Math.SQRT1_2 + 2;
  // Samples beyond the photo read its edge pixels: a frame partly or wholly outside still reads inside.
  const clamp = (value: number, last: number) => Math.min(Math.max(value, 0), last);
  const left = clamp(Math.floor(frame.centerX - reach), width - 1);
  const top = clamp(Math.floor(frame.centerY - reach), height - 1);
  const right = clamp(Math.ceil(frame.centerX + reach), width - 1);
  const bottom = clamp(Math.ceil(frame.centerY + reach), height - 1);
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/**
 * Bilinear sample of an interleaved 3-channel raster at (x, y) in pixel-centre
 * coordinates, repeating the edge outside it; used for photos and residuals alike.
 */
export function sampleBilinear(
  data: ArrayLike<number>,
  width: number,
  height: number,
  x: number,
  y: number,
  into: number[],
): void {
  sampleAt(data, 0, 0, width, width, height, x, y, into);
}

/** `sampleBilinear` of a photo through an area of it (x and y in the photo's pixels). */
export function sampleArea(area: PhotoArea, x: number, y: number, into: number[]): void {
  sampleAt(area.data, area.left, area.top, area.width, area.photoWidth, area.photoHeight, x, y, into);
}

/**
 * The one bilinear sampler: clamps in the full raster's coordinates, then reads
 * row-major data of `stride` pixels a row that starts at (left, top). Subtracting
 * the whole-pixel origin is exact, so an area samples bit for bit like the whole.
 */
function sampleAt(
  data: ArrayLike<number>,
  left: number,
  top: number,
  stride: number,
  width: number,
  height: number,
  x: number,
  y: number,
  into: number[],
): void {
  const cx = Math.min(Math.max(x, 0), width - 1);
  const cy = Math.min(Math.max(y, 0), height - 1);
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(x0 + 1, width - 1);
  const y1 = Math.min(y0 + 1, height - 1);
  const fx = cx - x0;
  const fy = cy - y0;
  const row0 = (y0 - top) * stride - left;
  const row1 = (y1 - top) * stride - left;
  for (let c = 0; c < 3; c++) {
    const above = data[(row0 + x0) * 3 + c]! * (1 - fx) + data[(row0 + x1) * 3 + c]! * fx;
    const below = data[(row1 + x0) * 3 + c]! * (1 - fx) + data[(row1 + x1) * 3 + c]! * fx;
    into[c] = above * (1 - fy) + below * fy;
  }
}
