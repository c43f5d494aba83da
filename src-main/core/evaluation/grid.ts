import sharp from 'sharp';
import { applyResiduals, faceChange, type HandoverLevels } from '../editing/residual-edit.js';
import { extractCrop, type CropFrame } from '../faces/alignment.js';
import { judgeFace } from '../faces/detect-faces.js';
import { readRgbImage, type RgbImage } from '../images/read-image.js';
import type { ExpressionModel } from '../model/expression-model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { faceFrame } from './evaluate.js';

export interface GridColumn {
  title: string;
  /** expression value asked; undefined shows the original */
  target?: number;
}

export const defaultGridColumns: GridColumn[] = [
  { title: 'original' },
  { title: 'smile off (0)', target: 0 },
  { title: 'smile on (1)', target: 1 },
  { title: 'intensity 0.5', target: 0.5 },
  { title: 'intensity 1.5', target: 1.5 },
];

export interface GridOptions {
  /** side of each picture in pixels (default 128) */
  cell?: number;
  columns?: GridColumn[];
  /** hand removals over to the model's drawing where they change this much (see Handover) */
  handover?: HandoverLevels;
}

/** One row of a grid: a photo (or crop), where its face is, and the expression it shows. */
export interface GridFace {
  image: RgbImage;
  frame: CropFrame;
  /** expression value the face shows now, the source of each edit */
  smile: number;
}

/**
 * A picture grid of edits: one row per face, one column per expression value,
 * each cell the face's aligned crop edited the way the product edits photos
 * (the residual applied at the image's own resolution).
 */
export async function writeEditGrid(
  model: ExpressionModel,
  files: string[],
  out: string,
  options: GridOptions = {},
): Promise<void> {
  const faces: GridFace[] = [];
  for (const file of files) {
    const image = await readRgbImage(file);
    const frame = await faceFrame(image);
    const { smile } = await judgeFace(image, frame);
    faces.push({ image, frame, smile });
  }
  const png = await renderEditGrid(model, faces, options);
  const jpeg = /\.jpe?g$/i.test(out);
  await writeFileAtomic(out, [jpeg ? await sharp(png).jpeg({ quality: 88 }).toBuffer() : png]);
}

/** The grid of `writeEditGrid` as PNG bytes, for faces already located and judged. */
export async function renderEditGrid(
  model: ExpressionModel,
  faces: GridFace[],
  options: GridOptions = {},
): Promise<Buffer> {
  const cell = options.cell ?? 128;
  const columns = options.columns ?? defaultGridColumns;
  const header = 24;
  const layers: sharp.OverlayOptions[] = columns.map((column, c) => ({
    input: caption(column.title, cell, header),
    left: c * cell,
    top: 0,
  }));
  for (const [r, { image, frame, smile }] of faces.entries()) {
    for (const [c, column] of columns.entries()) {
      const shown =
        column.target === undefined
          ? image
          : applyResiduals(image, [
              {
                frame,
                size: model.config.size,
                ...faceChange(model, image, { frame, source: smile, target: column.target }, options.handover),
              },
            ]);
      const pixels = extractCrop(shown, frame, cell);
      const png = await sharp(pixels, { raw: { width: cell, height: cell, channels: 3 } })
        .png()
        .toBuffer();
      layers.push({ input: png, left: c * cell, top: header + r * cell });
    }
  }
  const canvas = sharp({
    create: { width: columns.length * cell, height: header + faces.length * cell, channels: 3, background: '#ffffff' },
  }).composite(layers);
  return canvas.png().toBuffer();
}

function caption(text: string, width: number, height: number): Buffer {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<text x="${width / 2}" y="${height - 7}" font-family="sans-serif" font-size="14" text-anchor="middle">${escaped}</text></svg>`,
  );
}
