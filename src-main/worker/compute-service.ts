import { stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { CropFrame, Face, FaceChoice, PhotoRegion } from '../contract/ipc-contract.js';
import { selectBackend, type BackendChoice, type BackendReport } from '../core/backend/select-backend.js';
import { defaultBatchThreads, runBatch, type BatchOptions, type BatchReport } from '../core/editing/batch.js';
import {
  editPhoto,
  findPhotoFaces,
  freeOutputName,
  readEditedRegion,
  writeEditedPhoto,
} from '../core/editing/edit-photo.js';
import { writePair, type PairOptions } from '../core/editing/pairs.js';
import { applyResiduals, faceChange } from '../core/editing/residual-edit.js';
import type { DetectedFace } from '../core/faces/detect-faces.js';
import { ImageError, readRgbImage, regionInside } from '../core/images/read-image.js';
import { ExpressionModel } from '../core/model/expression-model.js';
import { runCollect, runFinetune, type CollectJob, type FinetuneJob, type FinetuneUpdate } from './finetune-jobs.js';
import { ensureWritableFolder } from '../core/util/write-failure.js';

/** Progress of a long job, reported as it goes. */
export interface ComputeProgress {
  done: number;
  total: number;
  message: string;
  ratePerSecond: number;
  etaSeconds: number;
}

export interface PhotoFaces {
  width: number;
  height: number;
  faces: Face[];
}

export interface PhotoPreview {
  image: Uint8Array;
  mime: string;
  width: number;
  height: number;
  /** the box of the photo the image shows */
  region: PhotoRegion;
}

export interface ExportOptions {
  format: 'same' | 'jpeg' | 'png' | 'webp';
  quality: number;
  keepMetadata: boolean;
}

export interface PairJob {
  photos: string[];
  faces: Record<string, FaceChoice[]>;
  target: number;
  outDir: string;
  pair: PairOptions;
}

export interface JobResult {
  state: 'done' | 'cancelled';
  summary: string;
  errors: { file: string; error: string }[];
  files: string[];
}

/**
 * Everything that needs the model or the face detector: it runs in the compute
 * worker thread, so the main process (and the window) never waits on it. Face
 * detections are kept per photo version, so moving a crop or a slider only
 * re-runs the model, not the detector.
 */
export class ComputeService {
  private model: ExpressionModel | undefined;
  private modelFile: string | undefined;
  private readonly detections = new Map<string, { key: string; result: Promise<PhotoFaces> }>();
  private readonly jobs = new Map<string, AbortController>();

  async init(backend: BackendChoice | 'auto'): Promise<BackendReport> {
    return selectBackend(backend);
  }

  /** Loads (or switches to) a model; the previous one stays until the new one has loaded. */
  async loadModel(file: string): Promise<{ file: string; name: string }> {
    if (this.modelFile === file && this.model) return { file, name: modelName(file, this.model) };
    const model = await ExpressionModel.load(file);
    this.model?.dispose();
    this.model = model;
    this.modelFile = file;
    return { file, name: modelName(file, model) };
  }

  async faces(photo: string): Promise<PhotoFaces> {
    const info = await stat(photo).catch(() => undefined);
    if (!info?.isFile()) throw new ImageError(photo, 'file not found');
    const key = `${info.size}:${info.mtimeMs}`;
    const cached = this.detections.get(photo);
    if (cached?.key === key) return cached.result;
    const result = this.detect(photo);
    this.detections.set(photo, { key, result });
    result.catch(() => this.detections.delete(photo));
    // Keep the most recent photos only: detections are small, but a library is large.
    if (this.detections.size > 200) this.detections.delete(this.detections.keys().next().value!);
    return result;
  }

  /**
   * The photo at `maxSide` with each chosen face edited: what the editor shows
   * while the user works. With a region, only that box of the photo, edited
   * at full resolution exactly as an export is (a zoomed-in view), then
   * scaled down to `maxSide` if it is larger.
   */
  async preview(photo: string, choices: FaceChoice[], maxSide: number, region?: PhotoRegion): Promise<PhotoPreview> {
    if (region) return this.regionPreview(photo, choices, maxSide, region);
    const model = this.requireModel();
    const { faces } = await this.faces(photo);
    const image = await readRgbImage(photo, { maxSide });
    const factor = image.width / image.originalWidth;
    const residuals = this.chosenEdits(photo, faces, choices).map(({ frame, source, target }) => {
      const scaled = scaleFrame(frame, factor);
      return {
        frame: scaled,
        size: model.config.size,
        ...faceChange(model, image, { frame: scaled, source, target }),
      };
    });
    const edited = residuals.length > 0 ? applyResiduals(image, residuals) : image;
    const whole = { left: 0, top: 0, width: image.originalWidth, height: image.originalHeight };
    return previewJpeg(sharp(edited.data, { raw: { width: edited.width, height: edited.height, channels: 3 } }), whole);
  }

  private async regionPreview(
    photo: string,
    choices: FaceChoice[],
    maxSide: number,
    wanted: PhotoRegion,
  ): Promise<PhotoPreview> {
    const model = this.requireModel();
    const { faces, width, height } = await this.faces(photo);
    const region = regionInside(wanted, width, height);
    if (!region) throw new ImageError(photo, `the region asked for lies outside the ${width}x${height} photo`);
    const edit = choices.length > 0 ? await editPhoto(photo, model, this.editRequest(photo, faces, choices)) : {};
    const pixels = await readEditedRegion(photo, edit, region);
    const raw = { width: pixels.width, height: pixels.height, channels: 3 as const };
    const image = sharp(pixels.data, { raw }).resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true });
    return previewJpeg(image, region);
  }

  /** Writes the edited photo at full resolution into `outDir` as a new file. */
  async exportPhoto(photo: string, choices: FaceChoice[], outDir: string, options: ExportOptions): Promise<string> {
    const model = this.requireModel();
    const { faces } = await this.faces(photo);
    const request = this.editRequest(photo, faces, choices);
    const result = await editPhoto(photo, model, request);
    await ensureWritableFolder(outDir, 'the edited photo');
    const extension = options.format === 'same' ? undefined : `.${options.format === 'jpeg' ? 'jpg' : options.format}`;
    const out = await freeOutputName(photo, 'edited', { dir: outDir, ...(extension ? { extension } : {}) });
    await writeEditedPhoto(photo, out, result, { quality: options.quality, keepMetadata: options.keepMetadata });
    return out;
  }

  async batch(
    jobId: string,
    options: Omit<BatchOptions, 'signal' | 'onProgress'>,
    onProgress: (p: ComputeProgress) => void,
  ): Promise<JobResult> {
    const model = this.requireModel();
    const report = await this.asJob(jobId, (signal) =>
      runBatch(model, {
        ...options,
        threads: defaultBatchThreads(),
        modelFile: this.modelFile!,
        signal,
        onProgress: (p) =>
          onProgress({
            done: p.filesDone,
            total: p.files,
            message: p.current,
            ratePerSecond: p.filesPerSecond,
            etaSeconds: p.etaSeconds,
          }),
      }),
    );
    return {
      state: report.cancelled ? 'cancelled' : 'done',
      summary: batchSummary(report),
      errors: [
        ...report.failed,
        ...report.noFace.map((file) => ({ file, error: 'no face found' })),
        ...report.unreadable.map((file) => ({ file, error: unreadableReason })),
      ],
      files: [],
    };
  }

  async pairs(jobId: string, job: PairJob, onProgress: (p: ComputeProgress) => void): Promise<JobResult> {
    const model = this.requireModel();
    const started = performance.now();
    const files: string[] = [];
    const errors: { file: string; error: string }[] = [];
    let done = 0;
    const cancelled = await this.asJob(jobId, async (signal) => {
      await ensureWritableFolder(job.outDir, 'the pairs');
      for (const photo of job.photos) {
        if (signal.aborted) return true;
        try {
          const { faces } = await this.faces(photo);
          if (faces.length === 0) throw new ImageError(photo, 'no face found');
          const chosen = job.faces[photo] ?? faces.map((f) => ({ id: f.id, target: job.target }));
          const edit = await editPhoto(photo, model, this.editRequest(photo, faces, chosen));
          files.push(...(await writePair(photo, edit, job.outDir, job.pair)));
        } catch (error) {
          errors.push({ file: photo, error: (error as Error).message });
        }
        done++;
        const rate = done / ((performance.now() - started) / 1000);
        onProgress({
          done,
          total: job.photos.length,
          message: photo,
          ratePerSecond: rate,
          etaSeconds: (job.photos.length - done) / rate,
        });
      }
      return false;
    });
    const failed = errors.length > 0 ? `, ${errors.length} failed` : '';
    return {
      state: cancelled ? 'cancelled' : 'done',
      summary: `${done - errors.length} pair${done - errors.length === 1 ? '' : 's'} exported to ${job.outDir}${failed}`,
      errors,
      files,
    };
  }

  /** Finds, aligns and labels the faces of photos into a new face set. */
  async collectFaces(jobId: string, job: CollectJob, onProgress: (p: ComputeProgress) => void): Promise<JobResult> {
    return this.asJob(jobId, (signal) =>
      runCollect(job, signal, onProgress).catch((error: unknown) => {
        if (!signal.aborted) throw error;
        return { state: 'cancelled' as const, summary: 'Cancelled: no face set was made', errors: [], files: [] };
      }),
    );
  }

  /** Trains a fine-tune (new or resumed); cancelling the job pauses it with a checkpoint. */
  async finetune(
    jobId: string,
    job: FinetuneJob,
    onProgress: (p: ComputeProgress) => void,
    onUpdate: (update: FinetuneUpdate) => void,
  ): Promise<JobResult> {
    return this.asJob(jobId, (signal) => runFinetune(job, signal, onProgress, onUpdate));
  }

  cancel(jobId: string): boolean {
    const job = this.jobs.get(jobId);
    job?.abort();
    return job !== undefined;
  }

  dispose(): void {
    for (const job of this.jobs.values()) job.abort();
    this.model?.dispose();
    this.model = undefined;
  }

  private async asJob<T>(jobId: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.jobs.set(jobId, controller);
    try {
      return await run(controller.signal);
    } finally {
      this.jobs.delete(jobId);
    }
  }

  private requireModel(): ExpressionModel {
    if (!this.model) throw new Error('no expression model is loaded; choose one in the Models panel');
    return this.model;
  }

  private async detect(photo: string): Promise<PhotoFaces> {
    const { preview, faces } = await findPhotoFaces(photo);
    return { width: preview.originalWidth, height: preview.originalHeight, faces: faces.map(toFace) };
  }

  /** Every face the user chose a target for, with its (maybe adjusted) frame and current expression. */
  private chosenEdits(photo: string, faces: Face[], choices: FaceChoice[]) {
    return choices.map((choice) => {
      const face = faces.find((f) => f.id === choice.id);
      if (!face) throw new ImageError(photo, `no ${choice.id} in this photo (it has ${faces.length} faces)`);
      return { frame: choice.frame ?? face.frame, source: face.smile, target: choice.target };
    });
  }

  /** Faces without a choice keep their own expression (target = source leaves them untouched). */
  private editRequest(photo: string, faces: Face[], choices: FaceChoice[]) {
    this.chosenEdits(photo, faces, choices);
    const targets = Object.fromEntries(faces.map((f) => [f.id, choices.find((c) => c.id === f.id)?.target ?? f.smile]));
    const frames = Object.fromEntries(choices.filter((c) => c.frame).map((c) => [c.id, c.frame!]));
    // The faces this photo version was found to have: the export does not run the detector again.
    return { target: 0, targets, frames, faces };
  }
}

async function previewJpeg(image: sharp.Sharp, region: PhotoRegion): Promise<PhotoPreview> {
  const { data, info } = await image.jpeg({ quality: 90 }).toBuffer({ resolveWithObject: true });
  return { image: new Uint8Array(data), mime: 'image/jpeg', width: info.width, height: info.height, region };
}

function toFace(face: DetectedFace): Face {
  const [expression] = Object.entries(face.expressions).reduce((a, b) => (b[1] > a[1] ? b : a), ['neutral', 0]);
  return { id: face.id, box: face.box, frame: face.frame, smile: face.smile, expression, score: face.score };
}

function scaleFrame(frame: CropFrame, factor: number): CropFrame {
  return { ...frame, centerX: frame.centerX * factor, centerY: frame.centerY * factor, size: frame.size * factor };
}

function modelName(file: string, model: ExpressionModel): string {
  const name = model.meta['name'];
  return typeof name === 'string' ? name : path.basename(file, path.extname(file));
}

const unreadableReason = 'a format this app cannot read (HEIC, camera raw, BMP): convert it to JPEG first';

function batchSummary(report: BatchReport): string {
  const parts = [`${report.written} written`];
  if (report.alreadyDone > 0) parts.push(`${report.alreadyDone} already done`);
  if (report.noFace.length > 0) parts.push(`${report.noFace.length} without a face`);
  if (report.failed.length > 0) parts.push(`${report.failed.length} failed`);
  if (report.unreadable.length > 0) parts.push(`${report.unreadable.length} not readable here`);
  return `${parts.join(', ')} (${report.facesEdited} faces edited${report.cancelled ? '; cancelled' : ''})`;
}
