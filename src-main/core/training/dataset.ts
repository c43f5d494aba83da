/**
 * Training data loader for the face-expression model: reads a labels CSV, decodes the face images it names
 * with sharp into one packed RGB byte array, and fingerprints the result so checkpoints can tell which data
 * they were trained on.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

export interface DatasetOptions {
  /** Folder of face images. */
  imagesDir: string;
  /** CSV with a header; a column `file` (file name relative to imagesDir) and label columns. */
  labelsCsv: string;
  /** Label column, e.g. 'smiling'; values are numbers (0/1 in CelebA, any real allowed). */
  labelColumn: string;
  /** If given, keep only rows whose `split` column equals it (error if the CSV has no `split` column). */
  split?: string;
  /**
   * If given, keep only rows whose value in this column equals the label: with
   * `Mouth_Slightly_Open`, smiles with an open mouth and neutral faces with a
   * closed one. The label then carries that column's change too (see docs/model.md).
   */
  agreeingColumn?: string;
  /**
   * If given, each face's label is the mean of the label column and these
   * columns: with `Mouth_Slightly_Open` and `High_Cheekbones`, a broad smile
   * is 1, a closed-mouthed one 2/3, a neutral face with an open mouth 1/3. The
   * label then carries the mouth and cheeks that CelebA labels apart from the
   * smile (see docs/model.md).
   */
  labelWith?: string[];
  /** If given, keep only rows whose value in this column is this value (e.g. open-mouthed faces alone). */
  where?: { column: string; value: string };
  /** Keep at most the first N matching rows (after the filters above). */
  limit?: number;
  /** Output square side in pixels (64, 128 or 256). */
  size: number;
  /** Called while decoding, at most every ~100 images and at the end. */
  onProgress?: (done: number, total: number) => void;
}

export interface SkippedImage {
  file: string;
  reason: string;
}

export interface FaceDataset {
  size: number;
  /** Images actually loaded. */
  count: number;
  /** count * size * size * 3 bytes, RGB, row-major HWC per image; image i at offset i*size*size*3. */
  images: Uint8Array;
  labels: Float32Array;
  /** The CSV `file` values of the loaded images, in order. */
  files: string[];
  /** Rows whose image was missing, unreadable or whose label was not a number. */
  skipped: SkippedImage[];
  /** Hex sha256 of size, label column, split and, per loaded image, its file name, byte size and label. */
  fingerprint: string;
}

/** Thrown for problems that make the whole dataset unusable (as opposed to one bad image). */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** Decompression-bomb guard: CelebA-style faces are tiny, so anything over this is suspect, not a face crop. */
const MAX_INPUT_PIXELS = 50_000_000;
/** Enough to keep sharp's libuv thread pool busy without holding many encoded files in memory at once. */
const DECODE_CONCURRENCY = 8;
const PROGRESS_EVERY = 100;
/** Bump when decoding changes (crop, resize kernel...) so old fingerprints stop matching. */
const FINGERPRINT_VERSION = 'mien-face-dataset-v1';

/**
 * The centred square crop Fader Networks applies to aligned CelebA (178x218 -> rows 20..198): side is the
 * shorter edge, the longer edge is trimmed equally on both sides (the odd pixel, if any, goes at the end).
 */
export function celebaCrop(
  width: number,
  height: number,
): { left: number; top: number; width: number; height: number } {
  const side = Math.min(width, height);
  return { left: Math.floor((width - side) / 2), top: Math.floor((height - side) / 2), width: side, height: side };
}

/** One CSV row selected for loading. */
interface Row {
  file: string;
  labelText: string;
}

/** What decoding one row produced: pixels, or the reason it was skipped. */
type RowResult = { ok: true; bytes: number; label: number } | { ok: false; reason: string };

export async function loadFaceDataset(options: DatasetOptions): Promise<FaceDataset> {
  validateOptions(options);
  await requireDirectory(options.imagesDir);
  const rows = selectRows(await readCsv(options.labelsCsv), options);
  const { size } = options;
  const bytesPerImage = size * size * 3;
  // Write each image straight into its CSV slot of one big buffer so that peak memory stays ~1x the dataset;
  // skipped slots are squeezed out afterwards.
  const slots = new Uint8Array(rows.length * bytesPerImage);
  const results = await decodeAll(rows, options, slots);
  return assemble(rows, results, slots, options);
}

export type LabelledRowsOptions = Pick<
  DatasetOptions,
  'imagesDir' | 'labelsCsv' | 'labelColumn' | 'split' | 'limit' | 'where'
>;

/**
 * The rows a dataset would use (split and limit applied) with numeric labels,
 * as image paths: for jobs that read the images themselves, such as evaluation.
 */
export async function readLabelledRows(
  options: LabelledRowsOptions,
): Promise<{ path: string; file: string; label: number }[]> {
  await requireDirectory(options.imagesDir);
  const rows = selectRows(await readCsv(options.labelsCsv), { ...options, size: 1 });
  return rows.flatMap((row) => {
    const label = parseLabel(row.labelText);
    return label === undefined ? [] : [{ path: path.join(options.imagesDir, row.file), file: row.file, label }];
  });
}

/**
 * Every column of the labels CSV for the given files, as text, keyed by
 * column name; each column's values follow the order of `files`. A file the
 * CSV does not list is an error.
 */
export async function readColumns(labelsCsv: string, files: string[]): Promise<Map<string, string[]>> {
  const [header, ...body] = await readCsv(labelsCsv);
  const fileColumn = requiredColumn(header!, 'file', labelsCsv);
  const byFile = new Map(body.map((row) => [row[fileColumn], row]));
  const rows = files.map((file) => {
    const row = byFile.get(file);
    if (!row) throw new DatasetError(`Labels CSV ${labelsCsv} has no row for ${file}`);
    return row;
  });
  return new Map(header!.map((name, column) => [name, rows.map((row) => row[column] ?? '')]));
}

function validateOptions(options: DatasetOptions): void {
  if (!Number.isInteger(options.size) || options.size < 1) {
    throw new DatasetError(`Dataset size must be a positive integer, got ${options.size}`);
  }
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1)) {
    throw new DatasetError(`Dataset limit must be a positive integer, got ${options.limit}`);
  }
}

async function requireDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new DatasetError(`Images folder not found: ${dir}`);
}

async function readCsv(csvPath: string): Promise<string[][]> {
  let text: string;
  try {
    text = await readFile(csvPath, 'utf8');
  } catch (err) {
    throw new DatasetError(`Cannot read labels CSV ${csvPath}: ${errorMessage(err)}`);
  }
  const rows = parseCsv(text.replace(/^\uFEFF/, ''), csvPath);
  if (rows.length === 0) throw new DatasetError(`Labels CSV ${csvPath} is empty (no header row)`);
  return rows;
}

/**
 * Minimal RFC 4180 parser: commas, double-quoted fields with "" escapes (which may hold commas and line
 * breaks), LF or CRLF line endings; blank lines are dropped. Small enough not to warrant a dependency.
 */
function parseCsv(text: string, csvPath: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let inQuotes = false;
  const endRow = (): void => {
    row.push(field);
    if (row.length > 1 || row[0]!.trim() !== '') rows.push(row);
    row = [];
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inQuotes) {
      if (ch !== '"') field += ch;
      else if (text[i + 1] === '"') field += text[++i];
      else inQuotes = false;
    } else if (ch === '"') inQuotes = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') endRow();
    else if (ch !== '\r') field += ch;
  }
  if (inQuotes) throw new DatasetError(`Labels CSV ${csvPath} has an unterminated quoted field`);
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

/** Finds the needed columns, applies the split filter and limit; throws when the CSV cannot serve the request. */
function selectRows(table: string[][], options: DatasetOptions): Row[] {
  const [header = [], ...body] = table;
  const columns = header.map((name) => name.trim());
  const where = options.labelsCsv;
  const fileCol = columns.indexOf('file');
  if (fileCol < 0) throw new DatasetError(`Labels CSV ${where} has no "file" column (columns: ${columns.join(', ')})`);
  const labelCol = columns.indexOf(options.labelColumn);
  if (labelCol < 0) {
    throw new DatasetError(
      `Labels CSV ${where} has no label column "${options.labelColumn}"; available columns: ${columns.join(', ')}`,
    );
  }
  const cell = (r: string[], c: number): string => (r[c] ?? '').trim();
  let kept = body;
  if (options.split !== undefined) {
    const splitCol = columns.indexOf('split');
    if (splitCol < 0) {
      throw new DatasetError(`split "${options.split}" was requested but labels CSV ${where} has no "split" column`);
    }
    kept = body.filter((r) => cell(r, splitCol) === options.split);
    if (kept.length === 0) {
      const seen = [...new Set(body.map((r) => cell(r, splitCol)))].slice(0, 10);
      throw new DatasetError(`No rows of ${where} have split "${options.split}" (splits present: ${seen.join(', ')})`);
    }
  }
  if (kept.length === 0) throw new DatasetError(`Labels CSV ${where} has a header but no data rows`);
  if (options.where !== undefined) kept = matchingRows(kept, columns, options.where, where);
  if (options.agreeingColumn !== undefined) kept = agreeingRows(kept, columns, labelCol, options.agreeingColumn, where);
  if (options.limit !== undefined) kept = kept.slice(0, options.limit);
  const withCols = (options.labelWith ?? []).map((name) => requiredColumn(columns, name, where));
  return kept.map((r) => ({ file: cell(r, fileCol), labelText: labelText(r, [labelCol, ...withCols], cell) }));
}

/**
 * The label of a row as text: its label column's, or the mean of several
 * columns' (the first text that is not a number, so that the skip names it).
 */
function labelText(row: string[], labelCols: number[], cell: (r: string[], c: number) => string): string {
  const texts = labelCols.map((c) => cell(row, c));
  if (texts.length === 1) return texts[0]!;
  const values: number[] = [];
  for (const text of texts) {
    const value = parseLabel(text);
    if (value === undefined) return text;
    values.push(value);
  }
  return String(values.reduce((sum, v) => sum + v, 0) / values.length);
}

/** The rows whose value in `filter.column` is `filter.value`. */
function matchingRows(
  rows: string[][],
  columns: string[],
  filter: { column: string; value: string },
  csvPath: string,
): string[][] {
  const col = requiredColumn(columns, filter.column, csvPath);
  const kept = rows.filter((r) => (r[col] ?? '').trim() === filter.value);
  if (kept.length === 0) throw new DatasetError(`No rows of ${csvPath} have ${filter.column}=${filter.value}`);
  return kept;
}

/** The rows whose value in `column` equals their label (as numbers, so "1" and "1.0" agree). */
function agreeingRows(
  rows: string[][],
  columns: string[],
  labelCol: number,
  column: string,
  csvPath: string,
): string[][] {
  const col = requiredColumn(columns, column, csvPath);
  const value = (r: string[], c: number) => parseLabel((r[c] ?? '').trim());
  const kept = rows.filter((r) => {
    const label = value(r, labelCol);
    return label !== undefined && label === value(r, col);
  });
  if (kept.length === 0) throw new DatasetError(`No rows of ${csvPath} have "${column}" equal to their label`);
  return kept;
}

function requiredColumn(columns: string[], name: string, csvPath: string): number {
  const col = columns.indexOf(name);
  if (col < 0) {
    throw new DatasetError(`Labels CSV ${csvPath} has no column "${name}"; available columns: ${columns.join(', ')}`);
  }
  return col;
}

/** Decodes rows with bounded concurrency; results[i] belongs to rows[i] whatever order decodes finish in. */
async function decodeAll(rows: Row[], options: DatasetOptions, slots: Uint8Array): Promise<RowResult[]> {
  const results: RowResult[] = new Array<RowResult>(rows.length);
  const bytesPerImage = options.size * options.size * 3;
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < rows.length) {
      const i = next++;
      results[i] = await loadRow(rows[i]!, options, slots.subarray(i * bytesPerImage, (i + 1) * bytesPerImage));
      done++;
      if (done % PROGRESS_EVERY === 0 && done < rows.length) options.onProgress?.(done, rows.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, rows.length) }, worker));
  options.onProgress?.(done, rows.length);
  return results;
}

/** Loads one row into `target`; every per-image failure becomes a skip reason rather than an exception. */
async function loadRow(row: Row, options: DatasetOptions, target: Uint8Array): Promise<RowResult> {
  const label = parseLabel(row.labelText);
  if (label === undefined) return { ok: false, reason: `label "${row.labelText}" is not a number` };
  if (row.file === '') return { ok: false, reason: 'empty file name' };
  let data: Buffer;
  try {
    data = await readFile(path.join(options.imagesDir, row.file));
  } catch (err) {
    return { ok: false, reason: readFailure(err) };
  }
  if (data.length === 0) return { ok: false, reason: 'empty file (0 bytes)' };
  try {
    target.set(await decodeFace(data, options.size));
  } catch (err) {
    return { ok: false, reason: decodeFailure(err) };
  }
  return { ok: true, bytes: data.length, label };
}

/** Number('') and Number(' ') are 0, so blanks must be rejected explicitly; NaN/Infinity are not labels. */
function parseLabel(text: string): number | undefined {
  if (text === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** EXIF-orient, drop alpha, force 8-bit sRGB, centre-crop square, resize, and return raw HWC RGB bytes. */
async function decodeFace(data: Buffer, size: number): Promise<Buffer> {
  const input = { limitInputPixels: MAX_INPUT_PIXELS };
  // The crop must be computed on the oriented dimensions, which metadata reports without decoding pixels.
  const meta = await sharp(data, input).metadata();
  const crop = celebaCrop(meta.autoOrient.width, meta.autoOrient.height);
  if (crop.width < 1) throw new Error('image has no pixels');
  // Method order matters to sharp: rotate before extract so the crop applies to the upright image.
  const { data: pixels, info } = await sharp(data, input)
    .rotate()
    .flatten({ background: '#000000' })
    .toColourspace('srgb')
    .extract(crop)
    .resize(size, size, { kernel: 'lanczos3', fit: 'fill' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || pixels.length !== size * size * 3) {
    throw new Error(`unexpected decode shape ${info.width}x${info.height}x${info.channels}`);
  }
  return pixels;
}

function readFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EISDIR') return 'not a file';
  return `cannot read: ${errorMessage(err)}`;
}

function decodeFailure(err: unknown): string {
  const message = errorMessage(err);
  if (/pixel limit/i.test(message)) return `image too large (over ${MAX_INPUT_PIXELS / 1e6} megapixels)`;
  // libvips messages can span lines; the first one says what went wrong.
  return `cannot decode: ${message.split('\n')[0]}`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Squeezes skipped slots out of `slots` (in place, CSV order kept) and builds labels, files and fingerprint. */
function assemble(rows: Row[], results: RowResult[], slots: Uint8Array, options: DatasetOptions): FaceDataset {
  const bytesPerImage = options.size * options.size * 3;
  const hash = createHash('sha256');
  const selection = [options.size, options.labelColumn, options.split ?? null];
  // Only a dataset that filters says so, so the fingerprints of earlier runs stay as they were.
  if (options.where !== undefined) selection.push(`where:${options.where.column}=${options.where.value}`);
  if (options.agreeingColumn !== undefined) selection.push(`agreeing:${options.agreeingColumn}`);
  if (options.labelWith?.length) selection.push(`labelWith:${options.labelWith.join(',')}`);
  hash.update(JSON.stringify([FINGERPRINT_VERSION, ...selection]) + '\n');
  const files: string[] = [];
  const labels: number[] = [];
  const skipped: SkippedImage[] = [];
  results.forEach((result, i) => {
    const file = rows[i]!.file;
    if (!result.ok) {
      skipped.push({ file, reason: result.reason });
      return;
    }
    // Moving left only, so copyWithin never overwrites a slot that has not been moved yet.
    if (files.length !== i) slots.copyWithin(files.length * bytesPerImage, i * bytesPerImage, (i + 1) * bytesPerImage);
    files.push(file);
    labels.push(result.label);
    hash.update(JSON.stringify([file, result.bytes, Math.fround(result.label)]) + '\n');
  });
  if (files.length === 0) throw noImagesError(rows.length, skipped);
  const count = files.length;
  // Copy only when something was skipped, so callers never hold a buffer larger than `images` claims to be.
  const images = count === rows.length ? slots : slots.slice(0, count * bytesPerImage);
  const fingerprint = hash.digest('hex');
  return { size: options.size, count, images, labels: Float32Array.from(labels), files, skipped, fingerprint };
}

function noImagesError(total: number, skipped: SkippedImage[]): DatasetError {
  const examples = skipped.slice(0, 3).map((s) => `${s.file}: ${s.reason}`);
  return new DatasetError(`No images could be loaded: all ${total} rows were skipped (${examples.join('; ')})`);
}
