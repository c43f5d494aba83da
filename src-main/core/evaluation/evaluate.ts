import { applyResiduals, decodedPixels, faceChange, type HandoverLevels } from '../editing/residual-edit.js';
import { extractCrop, type CropFrame } from '../faces/alignment.js';
import { descriptorDistance, detectFaces, judgeFace } from '../faces/detect-faces.js';
import { readRgbImage, type RgbImage } from '../images/read-image.js';
import type { ExpressionModel } from '../model/expression-model.js';
import { readLabelledRows, type LabelledRowsOptions } from '../training/dataset.js';
import { mouthBox } from '../training/gradients.js';
import { detailSharpness, psnr, ssim } from './image-metrics.js';

/** Identity is kept when the descriptors of original and edit are closer than this (face-api's usual threshold). */
export const identityThreshold = 0.45;

/**
 * An edit keeps the mouth's sharpness when its detail sharpness there (see
 * detailSharpness) is at least this share of the photo's. Two real photos of
 * one person, neutral against smiling, stay above it for 90% of 40 test
 * identities (median 0.97); a mouth the model has redrawn at its own 64 px
 * falls to about 0.7. The classifier takes such a blurred mouth for a closed
 * one, and a person does not.
 */
export const sharpnessKeptAt = 0.8;

export interface EvalOptions extends LabelledRowsOptions {
  /** expression value asked of neutral faces (default 1) */
  smileOn?: number;
  /** expression value asked of smiling faces (default 0) */
  smileOff?: number;
  /** hand removals over to the model's drawing where they change this much (see Handover); default: none */
  handover?: HandoverLevels;
  onProgress?: (done: number, total: number) => void;
}

export interface EvalReport {
  /** faces evaluated */
  n: number;
  /** share of non-smiling faces the classifier reads as smiling after the edit */
  smileOnSuccess: number;
  smileOnCount: number;
  /** share of smiling faces the classifier reads as not smiling after the edit */
  smileOffSuccess: number;
  smileOffCount: number;
  identityDistanceMedian: number;
  identityKeptShare: number;
  /** the same share among the smile-on edits (neutral faces) and among the smile-off edits (smiling faces) */
  identityKeptOn: number;
  identityKeptOff: number;
  /** reconstruction with the true label, at the model's size */
  psnr: number;
  ssim: number;
  /** how often the classifier agrees with the labels on the unedited faces: the ceiling of what it can confirm */
  judgeAgreement: number;
  /**
   * Over every edit, the median of the mouth's detail sharpness in the edit
   * against the photo's, and the share of edits that keep at least
   * sharpnessKeptAt of it: what the classifier does not see.
   */
  mouthSharpnessMedian: number;
  mouthSharpnessKept: number;
  /** the same share among the smile-on edits and among the smile-off edits */
  mouthSharpnessKeptOn: number;
  mouthSharpnessKeptOff: number;
  /**
   * The same per direction: the share of faces labelled smiling that it reads as
   * smiling (what a smile-on edit can hope for), and of neutral faces it reads
   * as not smiling (for smile-off edits).
   */
  smileOnCeiling: number;
  smileOffCeiling: number;
  skipped: { file: string; reason: string }[];
}

interface FaceResult {
  label: number;
  judgedBefore: number;
  judgedAfter: number;
  distance: number;
  psnr: number;
  ssim: number;
  mouthSharpness: number;
}

/**
 * Measures edit quality on labelled face crops: each face's expression is
 * flipped the way the product edits photos (the residual applied at the
 * crop's own resolution) and judged by face-api's classifier and identity network.
 */
export async function evaluateModel(model: ExpressionModel, options: EvalOptions): Promise<EvalReport> {
  const rows = await readLabelledRows(options);
  const results: FaceResult[] = [];
  const skipped: EvalReport['skipped'] = [];
  for (const [i, row] of rows.entries()) {
    try {
      const targets = { on: options.smileOn ?? 1, off: options.smileOff ?? 0 };
      results.push(await evaluateFace(model, await readRgbImage(row.path), row.label, targets, options.handover));
    } catch (error) {
      skipped.push({ file: row.file, reason: error instanceof Error ? error.message : String(error) });
    }
    options.onProgress?.(i + 1, rows.length);
  }
  return summarise(results, skipped);
}

async function evaluateFace(
  model: ExpressionModel,
  image: RgbImage,
  label: number,
  targets: { on: number; off: number },
  handover: HandoverLevels | undefined,
): Promise<FaceResult> {
  const frame = await faceFrame(image);
  const before = await judgeFace(image, frame);
  const smiling = label >= 0.5;
  const target = smiling ? targets.off : targets.on;
  const change = faceChange(model, image, { frame, source: before.smile, target }, handover);
  const edited = applyResiduals(image, [{ frame, ...change, size: model.config.size }]);
  const after = await judgeFace(edited, frame);
  return {
    label,
    judgedBefore: before.smile,
    judgedAfter: after.smile,
    distance: descriptorDistance(before.descriptor, after.descriptor),
    mouthSharpness: mouthSharpness(edited, frame) / mouthSharpness(image, frame),
    ...reconstruction(model, image, frame, label),
  };
}

/** The detector's aligned frame; for crops it cannot find a face in, the centred square (CelebA's own framing). */
export async function faceFrame(image: RgbImage): Promise<CropFrame> {
  const [face] = await detectFaces(image);
  if (face) return face.frame;
  const side = Math.min(image.width, image.height);
  return { centerX: image.width / 2, centerY: image.height / 2, size: side, angle: 0 };
}

/** The detail sharpness of the mouth, on the face's crop at the photo's own scale. */
function mouthSharpness(image: RgbImage, frame: CropFrame): number {
  const side = Math.max(16, Math.round(frame.size));
  return detailSharpness(extractCrop(image, frame, side), side, side, mouthBox);
}

function reconstruction(model: ExpressionModel, image: RgbImage, frame: CropFrame, label: number) {
  const size = model.config.size;
  const crop = extractCrop(image, frame, size);
  const decoded = decodedPixels(model, crop, label);
  return { psnr: psnr(crop, decoded), ssim: ssim(crop, decoded, size, size) };
}

const keepsSharpness = (r: FaceResult) => r.mouthSharpness >= sharpnessKeptAt;

function summarise(results: FaceResult[], skipped: EvalReport['skipped']): EvalReport {
  const share = (items: FaceResult[], test: (r: FaceResult) => boolean) =>
    items.length === 0 ? 0 : items.filter(test).length / items.length;
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const neutral = results.filter((r) => r.label < 0.5);
  const smiling = results.filter((r) => r.label >= 0.5);
  const median = (values: number[]) => {
    const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
    return sorted.length ? sorted[Math.floor(sorted.length / 2)]! : NaN;
  };
  return {
    n: results.length,
    smileOnSuccess: share(neutral, (r) => r.judgedAfter >= 0.5),
    smileOnCount: neutral.length,
    smileOffSuccess: share(smiling, (r) => r.judgedAfter < 0.5),
    smileOffCount: smiling.length,
    identityDistanceMedian: median(results.map((r) => r.distance)),
    identityKeptShare: share(results, (r) => r.distance < identityThreshold),
    identityKeptOn: share(neutral, (r) => r.distance < identityThreshold),
    identityKeptOff: share(smiling, (r) => r.distance < identityThreshold),
    psnr: mean(results.map((r) => r.psnr).filter(Number.isFinite)),
    ssim: mean(results.map((r) => r.ssim)),
    judgeAgreement: share(results, (r) => r.judgedBefore >= 0.5 === r.label >= 0.5),
    mouthSharpnessMedian: median(results.map((r) => r.mouthSharpness)),
    mouthSharpnessKept: share(results, keepsSharpness),
    mouthSharpnessKeptOn: share(neutral, keepsSharpness),
    mouthSharpnessKeptOff: share(smiling, keepsSharpness),
    smileOnCeiling: share(smiling, (r) => r.judgedBefore >= 0.5),
    smileOffCeiling: share(neutral, (r) => r.judgedBefore < 0.5),
    skipped,
  };
}
