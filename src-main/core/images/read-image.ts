import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { FileError } from '../util/file-error.js';

/** Decompression-bomb guard: 100 megapixels covers any camera; larger headers are refused before decoding. */
export const maxImagePixels = 100_000_000;
/** Files larger than this are refused before they are read. */
export const maxImageBytes = 512 * 1024 * 1024;

export class ImageError extends FileError {}

/** An upright 8-bit RGB image (EXIF orientation applied, alpha flattened onto white for analysis). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** the upright size of the file itself (larger than width x height when read scaled down) */
  originalWidth: number;
  originalHeight: number;
}

/**
 * Pixels of a photo, or of a box of it: `data` holds the `width` x `height`
 * pixels (RGB, row-major) whose top-left pixel is the photo's (`left`, `top`),
 * in a photo `photoWidth` x `photoHeight` large. Sampling clamps to the photo's
 * edges, not the box's, so a box read around a face gives exactly what the
 * whole photo would.
 */
export interface PhotoArea {
  data: Uint8Array;
  left: number;
  top: number;
  width: number;
  height: number;
  photoWidth: number;
  photoHeight: number;
}

/** A whole image as an area of itself. */
export function wholeArea(image: RgbImage): PhotoArea {
  const { data, width, height } = image;
  return { data, left: 0, top: 0, width, height, photoWidth: width, photoHeight: height };
}

export interface ReadOptions {
  /** scale down so the longer side is at most this many pixels (for detection) */
  maxSide?: number;
}

/**
 * Decodes a photo for analysis. Every failure is an ImageError naming the file:
 * missing, empty, not an image, truncated, or too large.
 */
export async function readRgbImage(file: string, options: ReadOptions = {}): Promise<RgbImage> {
  const { data, info, size } = await decode(file, (pipeline) =>
    options.maxSide
      ? pipeline.resize(options.maxSide, options.maxSide, { fit: 'inside', withoutEnlargement: true })
      : pipeline,
  );
  return { data, width: info.width, height: info.height, originalWidth: size.width, originalHeight: size.height };
}

/** A box of a photo, in its upright full-resolution pixels. */
export interface PhotoRegion {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Decodes one box of a photo at full resolution, exactly as `readRgbImage`
 * has those pixels: an edit of a large photo reads the faces' surroundings
 * only, and libvips stops decoding a JPEG below them.
 */
export async function readRgbRegion(file: string, region: PhotoRegion): Promise<PhotoArea> {
  const { data, info, size } = await decode(file, (pipeline) => pipeline.extract(region));
  return {
    data,
    left: region.left,
    top: region.top,
    width: info.width,
    height: info.height,
    photoWidth: size.width,
    photoHeight: size.height,
  };
}

/** The part of `region` inside a photo of this size, or undefined when they do not overlap. */
export function regionInside(region: PhotoRegion, width: number, height: number): PhotoRegion | undefined {
  const left = Math.max(0, Math.floor(region.left));
  const top = Math.max(0, Math.floor(region.top));
  const right = Math.min(width, Math.ceil(region.left + region.width));
  const bottom = Math.min(height, Math.ceil(region.top + region.height));
  return right > left && bottom > top ? { left, top, width: right - left, height: bottom - top } : undefined;
}

/** The upright size of a photo (EXIF orientations 5-8 swap width and height), from its header. */
export async function readPhotoSize(file: string): Promise<{ width: number; height: number }> {
  await checkFile(file);
  try {
    return uprightSize(await sharp(file, { limitInputPixels: maxImagePixels }).metadata());
  } catch (error) {
    throw new ImageError(file, describeSharpError(error));
  }
}

async function checkFile(file: string): Promise<void> {
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new ImageError(file, 'file not found');
  if (!info.isFile()) throw new ImageError(file, 'not a file');
  if (info.size === 0) throw new ImageError(file, 'empty file (0 bytes)');
  if (info.size > maxImageBytes) throw new ImageError(file, `file is larger than ${maxImageBytes / 2 ** 20} MiB`);
}

function uprightSize(metadata: sharp.Metadata, fallback = { width: 0, height: 0 }) {
  const swapped = (metadata.orientation ?? 1) >= 5;
  return {
    width: (swapped ? metadata.height : metadata.width) ?? fallback.width,
    height: (swapped ? metadata.width : metadata.height) ?? fallback.height,
  };
}

/** The analysis pipeline (upright, alpha flattened onto white, 8-bit RGB), scaled or cut by `shape`. */
async function decode(file: string, shape: (pipeline: sharp.Sharp) => sharp.Sharp) {
  await checkFile(file);
  try {
    const pipeline = sharp(file, { limitInputPixels: maxImagePixels, failOn: 'truncated' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      // Pixels stay in the photo's own colour space (Display P3, Adobe RGB...): the export
      // carries the same profile, so unedited pixels come back exactly as they were.
      .keepIccProfile();
    const metadata = await sharp(file, { limitInputPixels: maxImagePixels }).metadata();
    const { data, info } = await shape(pipeline).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      info,
      size: uprightSize(metadata, info),
    };
  } catch (error) {
    throw new ImageError(file, describeSharpError(error));
  }
}

/** The photo's alpha channel, upright, or undefined when it has none (edits keep transparency). */
export async function readAlpha(file: string): Promise<Uint8Array | undefined> {
  try {
    const { hasAlpha } = await sharp(file, { limitInputPixels: maxImagePixels }).metadata();
    if (!hasAlpha) return undefined;
    const { data } = await sharp(file, { limitInputPixels: maxImagePixels })
      .rotate()
      .extractChannel('alpha')
      .toColourspace('b-w')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (error) {
    throw new ImageError(file, describeSharpError(error));
  }
}

function describeSharpError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) return `image is larger than ${maxImagePixels / 1e6} megapixels`;
  if (/unsupported image format/i.test(message)) return 'not an image sharp can read';
  if (/premature end|truncated|corrupt/i.test(message)) return 'image is truncated or corrupt';
  return `cannot decode (${message.split('\n')[0]})`;
}
