import path from 'node:path';
import sharp from 'sharp';
import type { CropFrame } from '../faces/alignment.js';
import {
  detectFaces,
  scaleFace,
  type DetectedFace,
  type DetectOptions,
  type FaceDetectorKind,
} from '../faces/detect-faces.js';
import {
  ImageError,
  maxImagePixels,
  readAlpha,
  readPhotoSize,
  readRgbImage,
  readRgbRegion,
  wholeArea,
  type PhotoArea,
  type PhotoRegion,
  type RgbImage,
} from '../images/read-image.js';
import type { ExpressionModel } from '../model/expression-model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { fileExists } from '../util/file-exists.js';
import { applyResidualsInPlace, editedRegion, faceChange, readRegion, type Region } from './residual-edit.js';

/** Faces are found on a copy at most this large on its longer side, then mapped back (either detector itself works at 512). */
export const detectionSide = 1024;

export interface PhotoEditRequest {
  /** expression wanted for every face, unless `targets` names the face */
  target: number;
  /** per-face targets by face id (face-1, face-2, ... left to right) */
  targets?: Record<string, number>;
  /** crop frames the user adjusted, by face id; others use the detected alignment */
  frames?: Record<string, CropFrame>;
  /**
   * The faces of this very version of the file, found earlier (the app keeps
   * each photo's detection): given, they skip the detector, which costs more
   * than the edit itself on a large photo.
   */
  faces?: readonly EditableFace[];
  /** the network that finds the faces when they are not given: 'accurate' (default) or 'fast' (see DetectOptions) */
  detector?: FaceDetectorKind;
}

/** What an edit needs of a face, in full-resolution pixels. */
export interface EditableFace {
  id: string;
  frame: CropFrame;
  /** the expression the face shows now (the classifier's smile probability) */
  smile: number;
}

export interface EditedFace {
  id: string;
  source: number;
  target: number;
}

export interface PhotoEdit {
  /**
   * The edited pixels, in the photo's upright full-resolution coordinates: the
   * box the faces' crops and masks reach, or all of the photo when it has
   * transparency; none without faces. A large photo is never decoded whole to
   * edit it, and the export lays this box over the source file.
   */
  area?: PhotoArea;
  /** the area's pixels before the edit (none with transparency) */
  unedited?: Uint8Array;
  /** the crop frames edited (the export replaces only the pixels their masks reach) */
  frames: CropFrame[];
  /** the photo's own alpha channel, kept as it was */
  alpha?: Uint8Array;
  faces: EditableFace[];
  edited: EditedFace[];
}

/** Finds the faces of a photo and changes each one's expression; the file itself is only read. */
export async function editPhoto(file: string, model: ExpressionModel, request: PhotoEditRequest): Promise<PhotoEdit> {
  const { faces, size, full } = await facesAndSize(file, request.faces, request.detector);
  const named = [...Object.keys(request.targets ?? {}), ...Object.keys(request.frames ?? {})];
  const unknown = [...new Set(named)].filter((id) => !faces.some((f) => f.id === id));
  for (const face of faces) face.frame = request.frames?.[face.id] ?? face.frame;
  if (unknown.length > 0) {
    throw new ImageError(
      file,
      `no ${unknown.join(', ')} in this photo (it has ${faces.length} face${faces.length === 1 ? '' : 's'})`,
    );
  }
  const edited = faces.map((face) => ({
    id: face.id,
    // The classifier's smile probability is the expression the face shows now.
    source: face.smile,
    target: request.targets?.[face.id] ?? request.target,
  }));
  const frames = faces.map((f) => f.frame);
  const alpha = await readAlpha(file);
  // With transparency the export replaces the whole photo, so all of it is read.
  const region = alpha ? { left: 0, top: 0, ...size } : readRegion(frames, size.width, size.height);
  const result = { faces, frames, edited, ...(alpha ? { alpha } : {}) };
  if (!region) return result;
  const area = full ? wholeArea(full) : await readRgbRegion(file, region);
  const residuals = faces.map((face, i) => ({
    frame: face.frame,
    size: model.config.size,
    ...faceChange(model, area, { frame: face.frame, source: edited[i]!.source, target: edited[i]!.target }),
  }));
  // Kept for the export, which lays only what changed over the source (see writeEditedPhoto).
  const unedited = alpha ? undefined : area.data.slice();
  applyResidualsInPlace(area, residuals);
  return { ...result, area, ...(unedited ? { unedited } : {}) };
}

/**
 * The photo's faces (the ones given, copied as frames get replaced, or
 * detected) and its upright size; `full` is the whole photo when detection
 * already decoded it at full resolution (a small photo).
 */
async function facesAndSize(
  file: string,
  known: readonly EditableFace[] | undefined,
  detector: FaceDetectorKind | undefined,
): Promise<{ faces: EditableFace[]; size: { width: number; height: number }; full?: RgbImage }> {
  if (known) {
    const faces = known.map((f) => ({ id: f.id, frame: f.frame, smile: f.smile }));
    return { faces, size: await readPhotoSize(file) };
  }
  const { preview, faces } = await findPhotoFaces(file, detector ? { detector } : {});
  const size = { width: preview.originalWidth, height: preview.originalHeight };
  return { faces, size, ...(preview.width === preview.originalWidth ? { full: preview } : {}) };
}

/** The edited photo whole, as `readRgbImage` reads the source (for before/after pictures). */
export async function readEditedImage(file: string, edit: Pick<PhotoEdit, 'area'>): Promise<RgbImage> {
  const image = await readRgbImage(file);
  if (edit.area) pasteOverlap(wholeArea(image), edit.area);
  return image;
}

/**
 * One box of the edited photo at full resolution, as `readRgbRegion` reads
 * the source (a zoomed-in view): the source's pixels with the edited ones
 * laid over wherever the edit's area reaches into the box.
 */
export async function readEditedRegion(
  file: string,
  edit: Pick<PhotoEdit, 'area'>,
  region: PhotoRegion,
): Promise<PhotoArea> {
  const pixels = await readRgbRegion(file, region);
  if (edit.area) pasteOverlap(pixels, edit.area);
  return pixels;
}

/** Copies the pixels of `from` that fall inside `into` (both areas of the same photo). */
function pasteOverlap(into: PhotoArea, from: PhotoArea): void {
  const left = Math.max(into.left, from.left);
  const top = Math.max(into.top, from.top);
  const right = Math.min(into.left + into.width, from.left + from.width);
  const bottom = Math.min(into.top + into.height, from.top + from.height);
  for (let y = top; y < bottom; y++) {
    const start = ((y - from.top) * from.width + left - from.left) * 3;
    const row = from.data.subarray(start, start + (right - left) * 3);
    into.data.set(row, ((y - into.top) * into.width + left - into.left) * 3);
  }
}

/**
 * The faces of a photo file, found on a copy at most `detectionSide` large
 * (what the detector needs, and quick to decode) and given in the photo's own
 * full-resolution pixels; the copy comes along for callers that can use it.
 * `options.detector` picks the network ('fast' for big batches).
 */
export async function findPhotoFaces(
  file: string,
  options: DetectOptions = {},
): Promise<{ preview: RgbImage; faces: DetectedFace[] }> {
  const preview = await readRgbImage(file, { maxSide: detectionSide });
  const factor = preview.originalWidth / preview.width;
  return { preview, faces: (await detectFaces(preview, options)).map((f) => scaleFace(f, factor)) };
}

export interface WriteOptions {
  /** JPEG, WebP, TIFF and AVIF quality */
  quality?: number;
  /** carry the photo's EXIF and XMP (camera, date, place...) into the export; default true */
  keepMetadata?: boolean;
}

/**
 * Encodes an edited photo to a new file (format from its extension),
 * atomically and never over its source. The export is built from the source
 * file with the edited pixels laid over all of it, so its EXIF and XMP come
 * along (the orientation is applied to the pixels and reset) and transparency
 * is kept where the format has it, and so is the colour profile (the edit
 * worked in the photo's own colour space).
 */
export async function writeEditedPhoto(
  source: string,
  target: string,
  edit: Pick<PhotoEdit, 'area' | 'alpha' | 'unedited'> & { frames?: CropFrame[] },
  options: WriteOptions = {},
): Promise<void> {
  if (path.resolve(source) === path.resolve(target)) {
    throw new ImageError(target, 'refusing to overwrite the original; choose another output file');
  }
  let image = sharp(source, { limitInputPixels: maxImagePixels }).rotate().keepIccProfile();
  if (edit.area) {
    const { area, alpha, unedited } = edit;
    const region = edit.frames && !alpha ? editedRegion(edit.frames, area.photoWidth, area.photoHeight) : undefined;
    if (unedited && !alpha && (await isPlainRgb(source))) {
      // The file decodes to exactly the pixels the edit started from, so an
      // exclusive-or with (unedited xor edited) turns those into the edited ones
      // and leaves every other pixel as it is: one integer pass over the photo,
      // where compositing converts all of it to premultiplied float and back
      // (about a third of the export's time on a 12 MP JPEG).
      const raw = { width: area.photoWidth, height: area.photoHeight, channels: 3 as const };
      image = image.boolean(difference(area, unedited, region), 'eor', { raw });
    } else {
      // An opaque patch laid 'over' replaces exactly the pixels under it. With
      // transparency the whole frame is replaced ('source'), alpha included.
      const patch = cut(area, alpha, region);
      const blend = alpha ? 'source' : 'over';
      image = image.composite([{ input: patch.pixels, raw: patch.raw, left: patch.left, top: patch.top, blend }]);
    }
  }
  if (options.keepMetadata ?? true) image = image.keepExif().keepXmp();
  await writeFileAtomic(target, [await encodeAs(image, path.extname(target), options.quality ?? 92)]);
}

/** 8-bit RGB without alpha: a file that decodes to the very pixels `readRgbImage` gives. */
async function isPlainRgb(file: string): Promise<boolean> {
  const { channels, depth, hasAlpha, space } = await sharp(file, { limitInputPixels: maxImagePixels }).metadata();
  return channels === 3 && depth === 'uchar' && !hasAlpha && space === 'srgb';
}

/**
 * A photo-sized raw image that is zero except in the region (all of the area
 * without one), where it holds unedited xor edited. Zero-filled pages of a
 * fresh allocation this large are mapped lazily, so only the region's rows
 * take memory.
 */
function difference(area: PhotoArea, unedited: Uint8Array, region: Region | undefined): Buffer {
  const { left, top, width, height } = region ?? area;
  const changes = xor(unedited, area.data);
  const out = Buffer.alloc(area.photoWidth * area.photoHeight * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top - area.top + y) * area.width + left - area.left) * 3;
    out.set(changes.subarray(from, from + width * 3), ((top + y) * area.photoWidth + left) * 3);
  }
  return out;
}

/** a xor b, four bytes at a time where both are aligned (fresh buffers are): the export's share of the main thread stays small. */
function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const words = a.length >> 2;
    const [wa, wb, wo] = [a, b, out].map((v) => new Uint32Array(v.buffer, v.byteOffset, words));
    for (let w = 0; w < words; w++) wo![w] = wa![w]! ^ wb![w]!;
    i = words << 2;
  }
  for (; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/**
 * The edited pixels of a region of the area (all of it without one) as a raw
 * patch, with the photo's own alpha where it has one (the area is then the
 * whole photo): only what the edit can have changed is laid over the source.
 */
function cut(area: PhotoArea, alpha: Uint8Array | undefined, region: Region | undefined) {
  const { left, top, width, height } = region ?? area;
  if (
    left < area.left ||
    top < area.top ||
    left + width > area.left + area.width ||
    top + height > area.top + area.height
  ) {
    throw new Error('the edited pixels do not cover the region to export');
  }
  const rowStart = (y: number) => ((top - area.top + y) * area.width + left - area.left) * 3;
  if (!alpha && width === area.width && height === area.height) {
    // The area is the patch: no copy.
    return {
      pixels: Buffer.from(area.data.buffer, area.data.byteOffset, area.data.byteLength),
      left,
      top,
      raw: { width, height, channels: 3 as const },
    };
  }
  const channels = alpha ? 4 : 3;
  const pixels = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    const from = rowStart(y);
    if (!alpha) {
      pixels.set(area.data.subarray(from, from + width * 3), y * width * 3);
      continue;
    }
    for (let x = 0; x < width; x++) {
      const to = (y * width + x) * 4;
      pixels[to] = area.data[from + 3 * x]!;
      pixels[to + 1] = area.data[from + 3 * x + 1]!;
      pixels[to + 2] = area.data[from + 3 * x + 2]!;
      pixels[to + 3] = alpha[(top + y) * area.photoWidth + left + x]!;
    }
  }
  return { pixels, left, top, raw: { width, height, channels: channels as 3 | 4 } };
}

/** Encodes in the format an extension names (JPEG for anything unknown). */
export function encodeAs(image: sharp.Sharp, extension: string, quality: number): Promise<Buffer> {
  switch (extension.toLowerCase()) {
    case '.png':
      return image.png().toBuffer();
    case '.webp':
      return image.webp({ quality }).toBuffer();
    case '.tif':
    case '.tiff':
      return image.tiff({ quality }).toBuffer();
    case '.avif':
      return image.avif({ quality }).toBuffer();
    default:
      return image.jpeg({ quality }).toBuffer();
  }
}

/**
 * `photo-smile.jpg` beside the photo (or in `where.dir`, with `where.extension`),
 * with -2, -3 ... when that name is taken: never an existing file.
 */
export async function freeOutputName(
  source: string,
  suffix: string,
  where: { dir?: string; extension?: string } = {},
): Promise<string> {
  const { dir, name, ext } = path.parse(source);
  const folder = where.dir ?? dir;
  const extension = where.extension ?? ext;
  for (let i = 1; ; i++) {
    const candidate = path.join(folder, `${name}-${suffix}${i === 1 ? '' : `-${i}`}${extension}`);
    if (!(await fileExists(candidate))) return candidate;
  }
}
