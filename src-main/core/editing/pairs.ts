import path from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../images/read-image.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { encodeAs, readEditedImage, writeEditedPhoto, type PhotoEdit } from './edit-photo.js';

export type PairLayout = 'side-by-side' | 'files' | 'both';

export interface PairOptions {
  layout: PairLayout;
  /** write "Before" and "After" on the side-by-side image */
  labels: boolean;
  /** output extension without the dot; default: the photo's own */
  format?: 'jpg' | 'png' | 'webp';
  quality: number;
}

/**
 * Exports a before/after pair of an edited photo into `outDir`: one image with
 * both side by side, two files with matching names, or both. Returns the files.
 */
export async function writePair(
  source: string,
  edit: Pick<PhotoEdit, 'area' | 'alpha' | 'frames'>,
  outDir: string,
  options: PairOptions,
): Promise<string[]> {
  const { name, ext } = path.parse(source);
  const extension = options.format ? `.${options.format}` : ext;
  const written: string[] = [];
  if (options.layout !== 'side-by-side') {
    const before = path.join(outDir, `${name}-before${extension}`);
    const after = path.join(outDir, `${name}-after${extension}`);
    await writeFileAtomic(before, [
      await encodeAs(sharp(source).rotate().keepIccProfile(), extension, options.quality),
    ]);
    await writeEditedPhoto(source, after, edit, { quality: options.quality });
    written.push(before, after);
  }
  if (options.layout !== 'files') {
    const file = path.join(outDir, `${name}-before-after${extension}`);
    await writeFileAtomic(file, [await sideBySide(source, await readEditedImage(source, edit), options)]);
    written.push(file);
  }
  return written;
}

async function sideBySide(source: string, edited: RgbImage, options: PairOptions): Promise<Buffer> {
  const { width, height } = edited;
  const gap = Math.max(4, Math.round(width / 100));
  // Both halves in the photo's own colour space, so they compare like for like.
  const before = await sharp(source)
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .keepIccProfile()
    .resize(width, height)
    .raw()
    .toBuffer();
  const after = await sharp(edited.data, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
  const layers: sharp.OverlayOptions[] = [
    { input: before, raw: { width, height, channels: 3 }, left: 0, top: 0 },
    { input: after, left: width + gap, top: 0 },
  ];
  if (options.labels) {
    const fontSize = Math.max(14, Math.round(height / 25));
    layers.push(
      { input: label('Before', fontSize), left: gap, top: gap },
      { input: label('After', fontSize), left: width + 2 * gap, top: gap },
    );
  }
  const canvas = sharp({ create: { width: 2 * width + gap, height, channels: 3, background: '#ffffff' } }).composite(
    layers,
  );
  return encodeAs(
    canvas,
    path.extname(source) && options.format ? `.${options.format}` : path.extname(source),
    options.quality,
  );
}

function label(text: string, fontSize: number): Buffer {
  const padding = Math.round(fontSize / 3);
  const width = Math.round(text.length * fontSize * 0.62) + 2 * padding;
  const height = fontSize + 2 * padding;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" rx="${padding}" fill="black" fill-opacity="0.55"/>` +
    `<text x="${padding}" y="${padding + fontSize * 0.85}" font-family="sans-serif" font-size="${fontSize}" fill="white">${text}</text></svg>`;
  return Buffer.from(svg);
}
