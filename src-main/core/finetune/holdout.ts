/**
 * What the held-out faces of a face set say about a model: a preview grid
 * (original | smile off | smile on) while training, and at the end the same
 * figures `mien eval` reports, for the base and the fine-tuned model alike.
 */
import path from 'node:path';
import { decodedPixels } from '../editing/residual-edit.js';
import { psnr } from '../evaluation/image-metrics.js';
import { extractCrop } from '../faces/alignment.js';
import { evaluateModel, type EvalReport } from '../evaluation/evaluate.js';
import { renderEditGrid, type GridColumn, type GridFace } from '../evaluation/grid.js';
import { readRgbImage } from '../images/read-image.js';
import type { ExpressionModel } from '../model/expression-model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { FaceSet } from './face-set.js';

/** The figures of one model on the held-out faces. */
export interface HoldoutMetrics {
  faces: number;
  /** share of edits the classifier reads as the expression asked for, both directions together */
  expressionSuccess: number;
  smileOnSuccess: number;
  smileOnCount: number;
  smileOffSuccess: number;
  smileOffCount: number;
  /** median descriptor distance between each face and its edit (lower keeps identity better) */
  identityDistance: number;
  /** share of edits under the same-person threshold (0.45) */
  identityKeptShare: number;
  /** reconstruction with the true label, dB */
  psnr: number;
  ssim: number;
  /** share of edits whose mouth keeps its sharpness (see sharpnessKeptAt): a tune that draws blurs loses it */
  mouthSharpnessKept: number;
}

export type PreviewEvent =
  | {
      type: 'preview';
      step: number;
      /** a grid of held-out faces (original | smile off | smile on) as the model at `step` edits them */
      png: Uint8Array;
      file: string;
      /** how well the model reconstructs those faces, dB: falling while the training loss falls means overfitting */
      validationPsnr: number;
    }
  | { type: 'note'; message: string };

/** A held-out face of a preview, with the label its reconstruction is measured with. */
export interface PreviewFace extends GridFace {
  label: number;
}

export const previewColumns: GridColumn[] = [
  { title: 'original' },
  { title: 'smile off', target: 0 },
  { title: 'smile on', target: 1 },
];
/** rows of a preview grid: enough to judge, small enough to draw in well under a second */
const previewFaces = 4;
const previewCell = 96;

/** The held-out faces a preview shows, read once per run. */
export function previewFacesOf(set: FaceSet): Promise<PreviewFace[]> {
  return faceSetFaces(set, 'holdout', previewFaces);
}

/** Up to `limit` of a face set's faces of one split, read from their crops. */
export async function faceSetFaces(set: FaceSet, split: 'train' | 'holdout', limit: number): Promise<PreviewFace[]> {
  const chosen = set.faces.filter((f) => f.split === split).slice(0, limit);
  const faces: PreviewFace[] = [];
  for (const entry of chosen) {
    const image = await readRgbImage(path.join(set.imagesDir, entry.file));
    // The crop is already aligned: its frame is the whole image.
    const frame = { centerX: image.width / 2, centerY: image.height / 2, size: image.width, angle: 0 };
    // A corrected label is the truth; otherwise edit from what the classifier saw, as the editor does.
    faces.push({ image, frame, smile: entry.corrected ? entry.smiling : entry.classifierSmile, label: entry.smiling });
  }
  return faces;
}

/** A PNG grid of the faces as the model edits them; empty when there is nothing to show. */
export async function renderPreview(model: ExpressionModel, faces: GridFace[]): Promise<Uint8Array | undefined> {
  if (faces.length === 0) return undefined;
  const png = await renderEditGrid(model, faces, { cell: previewCell, columns: previewColumns });
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Mean reconstruction PSNR of the faces at the model's size, with their true labels (as `mien eval` measures it). */
export function validationPsnr(model: ExpressionModel, faces: PreviewFace[]): number {
  const size = model.config.size;
  let sum = 0;
  for (const face of faces) {
    const crop = extractCrop(face.image, face.frame, size);
    const decoded = decodedPixels(model, crop, face.label);
    sum += Math.min(psnr(crop, decoded), 100);
  }
  return sum / Math.max(1, faces.length);
}

/**
 * Preview grids drawn one after another while training goes on: each loads
 * the model of a checkpoint, so the run is never held up waiting for one. A
 * failed preview is reported and skipped; it never stops the run.
 */
export class PreviewQueue {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly faces: PreviewFace[],
    private readonly file: string,
    private readonly emit: ((event: PreviewEvent) => void) | undefined,
  ) {}

  add(step: number, load: () => Promise<ExpressionModel>): void {
    const emit = this.emit;
    if (this.faces.length === 0 || !emit) return;
    this.chain = this.chain
      .then(async () => {
        const model = await load();
        try {
          const png = await renderPreview(model, this.faces);
          if (!png) return;
          await writeFileAtomic(this.file, [png]);
          emit({ type: 'preview', step, png, file: this.file, validationPsnr: validationPsnr(model, this.faces) });
        } finally {
          model.dispose();
        }
      })
      .catch((error: unknown) => emit({ type: 'note', message: `no preview at step ${step}: ${messageOf(error)}` }));
  }

  settle(): Promise<void> {
    return this.chain;
  }
}

/** Evaluates a model on the set's held-out faces; undefined when it holds none out. */
export async function evaluateHoldout(
  model: ExpressionModel,
  set: FaceSet,
  onProgress?: (done: number, total: number) => void,
): Promise<HoldoutMetrics | undefined> {
  if (set.counts.holdout === 0) return undefined;
  const report = await evaluateModel(model, {
    imagesDir: set.imagesDir,
    labelsCsv: set.labelsCsv,
    labelColumn: 'smiling',
    split: 'holdout',
    ...(onProgress ? { onProgress } : {}),
  });
  return holdoutMetrics(report);
}

export function holdoutMetrics(report: EvalReport): HoldoutMetrics {
  const edits = report.smileOnCount + report.smileOffCount;
  const succeeded = report.smileOnSuccess * report.smileOnCount + report.smileOffSuccess * report.smileOffCount;
  return {
    faces: report.n,
    expressionSuccess: edits === 0 ? 0 : succeeded / edits,
    smileOnSuccess: report.smileOnSuccess,
    smileOnCount: report.smileOnCount,
    smileOffSuccess: report.smileOffSuccess,
    smileOffCount: report.smileOffCount,
    identityDistance: report.identityDistanceMedian,
    identityKeptShare: report.identityKeptShare,
    psnr: report.psnr,
    ssim: report.ssim,
    mouthSharpnessKept: report.mouthSharpnessKept,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
