import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { runBatch } from '../editing/batch.js';
import { editPhoto, writeEditedPhoto } from '../editing/edit-photo.js';
import { loadFaceApi, type FaceDetectorKind } from '../faces/detect-faces.js';
import type { ExpressionModel } from '../model/expression-model.js';

export interface PhotoBenchOptions {
  /** a photo with one face, scaled up to 12 megapixels for the benchmark */
  portrait: string;
  /** photos in the batch part */
  batchPhotos: number;
  /** the model's file, which batch worker threads load */
  modelFile: string;
  /** editing threads of the threaded batch (the calling one and workers) */
  threads: number;
}

export interface PhotoBenchReport {
  megapixels: number;
  /** decode, detect, edit and encode one photo with one face */
  singlePhotoSeconds: number;
  /** the batch edited in the main thread */
  batchPhotosPerSecond: number;
  /** largest resident memory seen during the batch */
  batchPeakRssMb: number;
  threads: number;
  /** the batch edited by `threads` threads */
  threadedPhotosPerSecond: number;
  threadedPeakRssMb: number;
  /** the same threaded batch with the 'fast' face detector (TinyFaceDetector) */
  fastThreadedPhotosPerSecond: number;
  fastThreadedPeakRssMb: number;
}

/** Times the photo pipeline on 12-megapixel JPEGs made from a real portrait. */
export async function benchPhotoPipeline(
  model: ExpressionModel,
  options: PhotoBenchOptions,
): Promise<PhotoBenchReport> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-photo-bench-'));
  try {
    const inputs = path.join(dir, 'in');
    const big = path.join(inputs, 'photo-000.jpg');
    await mkdir(inputs, { recursive: true });
    await sharp(options.portrait)
      .resize(4000, 3000, { fit: 'contain', background: '#404040' })
      .jpeg({ quality: 90 })
      .toFile(big);
    await loadFaceApi();
    // Warm-up: compiles kernels and loads weights once, as a running app would have.
    await editPhoto(big, model, { target: 0 });
    // The fast detector's weights load on first use: here, before any timing.
    await editPhoto(big, model, { target: 0, detector: 'fast' });
    const start = performance.now();
    const result = await editPhoto(big, model, { target: 0 });
    await writeEditedPhoto(big, path.join(dir, 'single.jpg'), result);
    const singlePhotoSeconds = (performance.now() - start) / 1000;
    for (let i = 1; i < options.batchPhotos; i++) {
      await sharp(big).toFile(path.join(inputs, `photo-${String(i).padStart(3, '0')}.jpg`));
    }
    const batch = (out: string, threads: number, detector: FaceDetectorKind = 'accurate') =>
      withPeakMemory(() =>
        runBatch(model, {
          inputDir: inputs,
          outputDir: path.join(dir, out),
          target: 1,
          threads,
          modelFile: options.modelFile,
          detector,
        }),
      );
    const single = await batch('out-1', 1);
    const threaded = await batch('out-n', options.threads);
    const fast = await batch('out-fast', options.threads, 'fast');
    return {
      megapixels: 12,
      singlePhotoSeconds,
      batchPhotosPerSecond: single.result.written / single.result.seconds,
      batchPeakRssMb: single.peakMb,
      threads: options.threads,
      threadedPhotosPerSecond: threaded.result.written / threaded.result.seconds,
      threadedPeakRssMb: threaded.peakMb,
      fastThreadedPhotosPerSecond: fast.result.written / fast.result.seconds,
      fastThreadedPeakRssMb: fast.peakMb,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs work while sampling the process's resident memory (worker threads included). */
async function withPeakMemory<T>(work: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  try {
    return { result: await work(), peakMb: peak / 2 ** 20 };
  } finally {
    clearInterval(sampler);
  }
}
