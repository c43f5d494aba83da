import { stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { CropFrame } from '../faces/alignment.js';
import { detectFaces, scaleFace, type DetectedFace } from '../faces/detect-faces.js';
import { ImageError, maxImagePixels, readAlpha, readRgbImage, type RgbImage } from '../images/read-image.js';
import type { ExpressionModel } from '../model/expression-model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { applyResiduals, faceResidual } from './residual-edit.js';

/** Faces are found on a copy at most this large on its longer side, then mapped back. */
export const detectionSide = 1600;

export interface PhotoEditRequest {
  /** expression wanted for every face, unless `targets` names the face */
  target: number;
  /** per-face targets by face id (face-1, face-2, ... left to right) */
  targets?: Record<string, number>;
  /** crop frames the user adjusted, by face id; others use the detected alignment */
  frames?: Record<string, CropFrame>;
}

export interface EditedFace {
  id: string;
  source: number;
  target: number;
}

export interface PhotoEdit {
  image: RgbImage;
  /** the photo's own alpha channel, kept as it was */
  alpha?: Uint8Array;
  faces: DetectedFace[];
  edited: EditedFace[];
}

/** Finds the faces of a photo and changes each one's expression; the file itself is only read. */
export async function editPhoto(file: string, model: ExpressionModel, request: PhotoEditRequest): Promise<PhotoEdit> {
  const preview = await readRgbImage(file, { maxSide: detectionSide });
  const factor = preview.originalWidth / preview.width;
  const faces = (await detectFaces(preview)).map((f) => scaleFace(f, factor));
  const image = factor === 1 ? preview : await readRgbImage(file);
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
  const residuals = faces.map((face, i) => ({
    frame: face.frame,
    size: model.config.size,
    residual: faceResidual(model, image, { frame: face.frame, source: edited[i]!.source, target: edited[i]!.target }),
  }));
  const alpha = await readAlpha(file);
  return { image: applyResiduals(image, residuals), faces, edited, ...(alpha ? { alpha } : {}) };
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
 * is kept where the format has it. Pixels are sRGB, as the edit read them.
 */
export async function writeEditedPhoto(
  source: string,
  target: string,
  edit: Pick<PhotoEdit, 'image' | 'alpha'>,
  options: WriteOptions = {},
): Promise<void> {
  if (path.resolve(source) === path.resolve(target)) {
    throw new ImageError(target, 'refusing to overwrite the original; choose another output file');
  }
  const { width, height, data } = edit.image;
  const channels = edit.alpha ? 4 : 3;
  const pixels = edit.alpha ? withAlpha(data, edit.alpha) : data;
  let image = sharp(source, { limitInputPixels: maxImagePixels })
    .rotate()
    .composite([
      {
        input: Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength),
        raw: { width, height, channels },
        blend: 'source',
      },
    ]);
  if (options.keepMetadata ?? true) image = image.keepExif().keepXmp();
  await writeFileAtomic(target, [await encodeAs(image, path.extname(target), options.quality ?? 92)]);
}

function withAlpha(rgb: Uint8Array, alpha: Uint8Array): Uint8Array {
  const out = new Uint8Array(alpha.length * 4);
  for (let i = 0; i < alpha.length; i++) {
    out[4 * i] = rgb[3 * i]!;
    out[4 * i + 1] = rgb[3 * i + 1]!;
    out[4 * i + 2] = rgb[3 * i + 2]!;
    out[4 * i + 3] = alpha[i]!;
  }
  return out;
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

/** `photo-smile.jpg` beside the photo, with -2, -3 ... when that name is taken. */
export async function freeOutputName(source: string, suffix: string): Promise<string> {
  const { dir, name, ext } = path.parse(source);
  for (let i = 1; ; i++) {
    const candidate = path.join(dir, `${name}-${suffix}${i === 1 ? '' : `-${i}`}${ext}`);
    if (!(await stat(candidate).catch(() => undefined))) return candidate;
  }
}
