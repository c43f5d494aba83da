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

export interface ReadOptions {
  /** scale down so the longer side is at most this many pixels (for detection) */
  maxSide?: number;
}

/**
 * Decodes a photo for analysis. Every failure is an ImageError naming the file:
 * missing, empty, not an image, truncated, or too large.
 */
export async function readRgbImage(file: string, options: ReadOptions = {}): Promise<RgbImage> {
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new ImageError(file, 'file not found');
  if (!info.isFile()) throw new ImageError(file, 'not a file');
  if (info.size === 0) throw new ImageError(file, 'empty file (0 bytes)');
  if (info.size > maxImageBytes) throw new ImageError(file, `file is larger than ${maxImageBytes / 2 ** 20} MiB`);
  try {
    let pipeline = sharp(file, { limitInputPixels: maxImagePixels, failOn: 'truncated' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      // Pixels stay in the photo's own colour space (Display P3, Adobe RGB...): the export
      // carries the same profile, so unedited pixels come back exactly as they were.
      .keepIccProfile();
    if (options.maxSide) {
      pipeline = pipeline.resize(options.maxSide, options.maxSide, { fit: 'inside', withoutEnlargement: true });
    }
    const metadata = await sharp(file, { limitInputPixels: maxImagePixels }).metadata();
    const { data, info: out } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    // EXIF orientations 5-8 swap width and height.
    const swapped = (metadata.orientation ?? 1) >= 5;
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: out.width,
      height: out.height,
      originalWidth: (swapped ? metadata.height : metadata.width) ?? out.width,
      originalHeight: (swapped ? metadata.width : metadata.height) ?? out.height,
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
