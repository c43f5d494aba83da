import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FaceDetectorKind } from '../faces/detect-faces.js';
import type { ExpressionModel } from '../model/expression-model.js';
import { currentBackend } from '../backend/select-backend.js';
import { editToFile } from './edit-to-file.js';
import { PhotoPool } from './photo-pool.js';
import { fileExists } from '../util/file-exists.js';
import { ensureWritableFolder } from '../util/write-failure.js';

export const photoExtensions = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.avif'];

export interface BatchOptions {
  inputDir: string;
  /** edit these photos (of any folders) instead of every photo of `inputDir` */
  photos?: string[];
  outputDir: string;
  /** expression for every face */
  target: number;
  recursive?: boolean;
  /** output format; 'same' keeps each photo's own */
  format?: 'same' | 'jpeg' | 'png' | 'webp';
  quality?: number;
  /** carry EXIF and XMP into the outputs (default true) */
  keepMetadata?: boolean;
  /**
   * The face detector: 'accurate' (default, SSD MobileNet) or 'fast'
   * (TinyFaceDetector: detection about twice as quick, but it can miss
   * small or partly hidden faces). Worker threads get it with each photo.
   */
  detector?: FaceDetectorKind;
  /** photos in flight per editing thread (decoding and encoding overlap with the model); default 2 */
  concurrency?: number;
  /**
   * Threads that edit photos in parallel: this one with `model`, and the
   * others workers with their own copy of the model loaded from `modelFile`.
   */
  threads?: number;
  modelFile?: string;
  signal?: AbortSignal;
  onProgress?: (progress: BatchProgress) => void;
}

export interface BatchProgress {
  filesDone: number;
  files: number;
  facesEdited: number;
  filesPerSecond: number;
  etaSeconds: number;
  current: string;
}

export interface BatchReport {
  files: number;
  written: number;
  /** outputs that existed already (a resumed batch skips them) */
  alreadyDone: number;
  noFace: string[];
  failed: { file: string; error: string }[];
  /** photo files of the folder in formats that cannot be read (see unreadablePhotoExtensions), left as they are */
  unreadable: string[];
  facesEdited: number;
  cancelled: boolean;
  seconds: number;
}

interface PlannedPhoto {
  input: string;
  output: string;
}

/**
 * Edits every photo of a folder into another folder. A failing photo is
 * reported and the batch goes on; outputs are written atomically, so after a
 * crash or cancel the same command resumes where it stopped.
 */
export async function runBatch(model: ExpressionModel, options: BatchOptions): Promise<BatchReport> {
  const started = performance.now();
  const { photos: plan, unreadable } = await planBatch(options);
  const report: BatchReport = {
    files: plan.length,
    written: 0,
    alreadyDone: 0,
    noFace: [],
    failed: [],
    unreadable,
    facesEdited: 0,
    cancelled: false,
    seconds: 0,
  };
  const settings = {
    target: options.target,
    quality: options.quality ?? 92,
    keepMetadata: options.keepMetadata ?? true,
    ...(options.detector ? { detector: options.detector } : {}),
  };
  const threads = Math.min(options.threads ?? 1, plan.length);
  // The calling thread edits with the model it has; worker threads join as
  // soon as they have loaded theirs (a short batch may be over before that).
  const pool =
    threads > 1 && options.modelFile
      ? PhotoPool.start(threads - 1, options.modelFile, currentBackend()?.choice ?? 'wasm')
      : undefined;
  let next = 0;
  let done = 0;
  const lane = async (edit: (photo: PlannedPhoto) => Promise<number>) => {
    while (next < plan.length && !options.signal?.aborted) {
      const photo = plan[next++]!;
      await processPhoto(edit, photo, report);
      done++;
      const elapsed = (performance.now() - started) / 1000;
      const rate = done / Math.max(elapsed, 1e-9);
      options.onProgress?.({
        filesDone: done,
        files: plan.length,
        facesEdited: report.facesEdited,
        filesPerSecond: rate,
        etaSeconds: (plan.length - done) / rate,
        current: photo.input,
      });
    }
  };
  // Two photos in flight per editing thread: one decodes or encodes while the other runs the model.
  const perThread = options.concurrency ?? 2;
  const lanes = (count: number, edit: (photo: PlannedPhoto) => Promise<number>) =>
    Promise.all(Array.from({ length: count }, () => lane(edit)));
  let poolLanes: Promise<unknown> | undefined;
  pool?.ready.then(
    () => {
      poolLanes = lanes(perThread * pool.size, (photo) => pool.edit(photo.input, photo.output, settings));
    },
    // Without its workers the batch goes on in this thread, with the same results.
    () => undefined,
  );
  try {
    await lanes(perThread, (photo) => editToFile(model, photo.input, photo.output, settings));
    // Nothing is left to take; the workers may still be editing their last photos.
    await poolLanes;
  } finally {
    await pool?.close();
  }
  report.cancelled = done < plan.length;
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

async function processPhoto(edit: (photo: PlannedPhoto) => Promise<number>, photo: PlannedPhoto, report: BatchReport) {
  if (await fileExists(photo.output)) {
    report.alreadyDone++;
    return;
  }
  try {
    const faces = await edit(photo);
    if (faces === 0) {
      report.noFace.push(photo.input);
      return;
    }
    report.written++;
    report.facesEdited += faces;
  } catch (error) {
    report.failed.push({ file: photo.input, error: error instanceof Error ? error.message : String(error) });
  }
}

export interface BatchPlan {
  photos: PlannedPhoto[];
  /** photo files of the folder that cannot be read (a selection has none: the gallery shows only readable ones) */
  unreadable: string[];
}

/** Lists the photos and decides each output name, refusing setups that could touch an input. */
export async function planBatch(options: BatchOptions): Promise<BatchPlan> {
  if (options.photos) return { photos: await planSelection(options.photos, options), unreadable: [] };
  const inputDir = path.resolve(options.inputDir);
  const outputDir = path.resolve(options.outputDir);
  const info = await stat(inputDir).catch(() => undefined);
  if (!info?.isDirectory()) throw new Error(`${options.inputDir}: not a folder`);
  if (outputDir === inputDir)
    throw new Error('the output folder must differ from the input folder: originals are never overwritten');
  if (options.recursive && outputDir.startsWith(inputDir + path.sep)) {
    throw new Error('the output folder is inside the input folder; with --recursive its outputs would be edited again');
  }
  await ensureWritableFolder(outputDir, 'the results');
  const listing = await listFolder(inputDir, options.recursive ?? false);
  const photos = nameOutputs(listing.photos, (input) => path.relative(inputDir, input), outputDir, options);
  return { photos, unreadable: listing.unreadable };
}

/** A selection of photos from anywhere goes flat into the output folder. */
async function planSelection(photos: string[], options: BatchOptions): Promise<PlannedPhoto[]> {
  const outputDir = path.resolve(options.outputDir);
  const inputs = photos.map((photo) => path.resolve(photo));
  if (inputs.some((input) => path.dirname(input) === outputDir))
    throw new Error("the output folder must differ from the photos' folder: originals are never overwritten");
  await ensureWritableFolder(outputDir, 'the results');
  return nameOutputs(inputs, (input) => path.basename(input), outputDir, options);
}

function nameOutputs(
  inputs: string[],
  relativeName: (input: string) => string,
  outputDir: string,
  options: BatchOptions,
): PlannedPhoto[] {
  const taken = new Set<string>();
  return inputs.map((input) => {
    const { dir, name, ext } = path.parse(relativeName(input));
    const extension =
      options.format && options.format !== 'same' ? `.${options.format === 'jpeg' ? 'jpg' : options.format}` : ext;
    // Two inputs can map to one name when converting formats (a.png and a.webp -> a.jpg); number them.
    let output = path.join(outputDir, dir, `${name}${extension}`);
    for (let i = 2; taken.has(output.toLowerCase()); i++)
      output = path.join(outputDir, dir, `${name}-${i}${extension}`);
    taken.add(output.toLowerCase());
    return { input, output };
  });
}

/**
 * Photo threads for a batch on this machine. Each holds its own model, face
 * detector and tfjs heap (about 0.45 GB).
 *
 * Where the calling thread's backend runs a pool of threads (the WebAssembly
 * pool on every core, by default), its pool takes the place of other photo
 * threads: one more joins per two cores the pool leaves free. Measured with
 * `mien bench --photos` on two idle cores, 24 12-megapixel JPEGs of one face:
 * the calling thread alone, its pool on both cores, 2.43 photos/s at 1.05 GB
 * peak; with a second photo thread beside it, 2.38 photos/s at 1.51 GB.
 *
 * Where each thread computes on one core, two threads on two or three cores,
 * then one per two cores: one thread already uses more than a core (libvips
 * decodes and encodes beside the model). On two cores: one thread 1.94, two
 * threads 2.56 photos/s at 1.42 GB.
 */
export function defaultBatchThreads(
  cores = os.availableParallelism(),
  poolThreads = currentBackend()?.threads ?? 1,
): number {
  if (poolThreads > 1) return 1 + Math.floor(Math.max(0, cores - poolThreads) / 2);
  return Math.max(Math.min(cores, 2), Math.floor(cores / 2));
}

/**
 * Photo formats people keep that this build cannot read: HEIC from phones
 * (HEVC-coded, which sharp's libvips lacks), cameras' raw files, BMP. They are
 * counted apart so that a folder of them does not look empty.
 */
export const unreadablePhotoExtensions = [
  '.heic',
  '.heif',
  '.dng',
  '.cr2',
  '.cr3',
  '.nef',
  '.arw',
  '.raf',
  '.orf',
  '.rw2',
  '.bmp',
];

export interface FolderListing {
  /** the photos, sorted by path */
  photos: string[];
  /** photo files of formats that cannot be read (see unreadablePhotoExtensions) */
  unreadable: string[];
}

/** The photos of a folder (and its subfolders if asked), sorted by path. */
export async function listPhotos(dir: string, recursive: boolean): Promise<string[]> {
  return (await listFolder(dir, recursive)).photos;
}

/** The photos of a folder (and its subfolders if asked), and the photo files it cannot read. */
export async function listFolder(dir: string, recursive: boolean): Promise<FolderListing> {
  const entries = await readdir(dir, { withFileTypes: true });
  const listing: FolderListing = { photos: [], unreadable: [] };
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    // Hidden files and folders (e.g. macOS' `._photo.jpg` metadata) hold no photos of the user's.
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    const extension = path.extname(entry.name).toLowerCase();
    if (entry.isDirectory() && recursive) {
      const inner = await listFolder(full, true);
      listing.photos.push(...inner.photos);
      listing.unreadable.push(...inner.unreadable);
    } else if (entry.isFile() && photoExtensions.includes(extension)) listing.photos.push(full);
    else if (entry.isFile() && unreadablePhotoExtensions.includes(extension)) listing.unreadable.push(full);
  }
  return listing;
}

/** Fails early, with the folder named, when results could not be written. */
