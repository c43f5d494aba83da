/**
 * The fine-tune's long steps as compute-worker jobs: collecting faces into a
 * face set, and training a profile (started or resumed). They run in the
 * worker thread like batches do; the main process relays their updates.
 */
import path from 'node:path';
import type { LossPoint } from '../contract/ipc-contract.js';
import { collectFaces, personDescriptor, type PhotoSelection } from '../core/finetune/collect-faces.js';
import { createFaceSet } from '../core/finetune/face-set.js';
import {
  resumeFinetune,
  startFinetune,
  type FinetuneEvent,
  type FinetuneRequest,
  type FinetuneResult,
} from '../core/finetune/finetune.js';
import { FinetuneError } from '../core/finetune/storage.js';
import { readCheckpointHeader } from '../core/model/checkpoint.js';
import { checkpointFileName } from '../core/training/trainer.js';
import type { ComputeProgress, JobResult } from './compute-service.js';

export interface CollectJob {
  selection: PhotoSelection;
  /** keep only the faces of the person shown as this face of this photo */
  person?: { photo: string; faceId: string };
  /** the new face set's folder */
  faceSetDir: string;
  holdout?: number;
}

export type FinetuneJob = { start: FinetuneRequest } | { resume: string };

/** What a running fine-tune reports besides its job progress. */
export type FinetuneUpdate =
  | { type: 'stage'; stage: 'loading' | 'evaluating'; message: string }
  | {
      type: 'step';
      step: number;
      totalSteps: number;
      phase: number;
      reconstruction: number;
      adversarial: number;
      discriminator: number;
      discriminatorAccuracy: number;
      etaSeconds: number;
    }
  /** the loss curve so far, when a run resumes */
  | { type: 'history'; points: LossPoint[] }
  | { type: 'preview'; step: number; png: Uint8Array };

export async function runCollect(
  job: CollectJob,
  signal: AbortSignal,
  onProgress: (p: ComputeProgress) => void,
): Promise<JobResult> {
  const started = performance.now();
  const person = job.person ? { descriptor: await personDescriptor(job.person.photo, job.person.faceId) } : undefined;
  const collection = await collectFaces(job.selection, {
    ...(person ? { person } : {}),
    signal,
    onProgress: (done, total, file) => onProgress(rateProgress(started, done, total, file)),
  });
  const errors = collection.skipped.map((s) => ({ file: s.file, error: s.reason }));
  if (collection.faces.length === 0) {
    const why = person ? 'no face of this person in these photos' : 'no faces found in these photos';
    throw new FinetuneError(why);
  }
  const set = await createFaceSet(job.faceSetDir, collection.faces, {
    ...(job.holdout !== undefined ? { holdout: job.holdout } : {}),
  });
  const { counts } = set;
  return {
    state: 'done',
    summary:
      `${set.faces.length} face${set.faces.length === 1 ? '' : 's'} from ${collection.photos} photos ` +
      `(${counts.smiling} smiling, ${counts.neutral} not), ${counts.holdout} held out`,
    errors,
    files: [set.dir],
  };
}

export async function runFinetune(
  job: FinetuneJob,
  signal: AbortSignal,
  onProgress: (p: ComputeProgress) => void,
  onUpdate: (update: FinetuneUpdate) => void,
): Promise<JobResult> {
  const onEvent = (event: FinetuneEvent) => relay(event, onProgress, onUpdate);
  onUpdate({ type: 'stage', stage: 'loading', message: 'reading the faces' });
  let result: FinetuneResult;
  if ('start' in job) {
    result = await startFinetune(job.start, { signal, onEvent });
  } else {
    const points = await lossHistory(job.resume);
    if (points.length > 0) onUpdate({ type: 'history', points });
    result = await resumeFinetune(job.resume, { signal, onEvent });
  }
  if (result.status === 'paused') {
    return {
      state: 'cancelled',
      summary: `Paused at step ${result.stepsDone} of ${result.totalSteps}`,
      errors: [],
      files: [],
    };
  }
  const profile = result.profile!;
  return {
    state: 'done',
    summary: `Profile “${profile.name}” is ready (${result.stepsDone} steps)`,
    errors: [],
    files: [profile.file],
  };
}

/** Turns the fine-tune's events into job progress (status bar) and updates (the fine-tune screen). */
function relay(
  event: FinetuneEvent,
  onProgress: (p: ComputeProgress) => void,
  onUpdate: (update: FinetuneUpdate) => void,
): void {
  switch (event.type) {
    case 'progress':
      onProgress({
        done: event.stepsDone,
        total: event.totalSteps,
        message: `step ${event.stepsDone} of ${event.totalSteps}`,
        ratePerSecond: 0,
        etaSeconds: event.etaSeconds,
      });
      onUpdate({
        type: 'step',
        step: event.stepsDone,
        totalSteps: event.totalSteps,
        phase: event.phase,
        reconstruction: event.reconstruction,
        adversarial: event.adversarial,
        discriminator: event.discriminator,
        discriminatorAccuracy: event.discriminatorAccuracy,
        etaSeconds: event.etaSeconds,
      });
      break;
    case 'preview':
      // A copy of its own, so the bytes can be handed to the main thread without touching a shared pool.
      onUpdate({ type: 'preview', step: event.step, png: new Uint8Array(event.png) });
      break;
    case 'evaluating': {
      const model = event.model === 'base' ? 'the base model' : 'the fine-tuned model';
      onUpdate({ type: 'stage', stage: 'evaluating', message: `measuring ${model}: ${event.done} of ${event.total}` });
      break;
    }
    default:
      break;
  }
}

/**
 * The loss curve a paused run recorded, read from its last checkpoint, so a
 * resumed run's chart starts with its history. finetune.ts keeps the
 * trainer's run in `run/` of the work folder; without a checkpoint there is
 * no history yet.
 */
async function lossHistory(workDir: string): Promise<LossPoint[]> {
  const header = await readCheckpointHeader(path.join(workDir, 'run', checkpointFileName)).catch(() => undefined);
  const curve = header?.meta['curve'];
  return Array.isArray(curve) ? curve.filter(isLossPoint) : [];
}

function isLossPoint(value: unknown): value is LossPoint {
  if (typeof value !== 'object' || value === null) return false;
  const point = value as Record<string, unknown>;
  return ['step', 'phase', 'reconstruction', 'adversarial', 'discriminator', 'discriminatorAccuracy'].every(
    (key) => typeof point[key] === 'number',
  );
}

function rateProgress(started: number, done: number, total: number, file: string): ComputeProgress {
  const rate = done / Math.max((performance.now() - started) / 1000, 1e-3);
  return { done, total, message: file, ratePerSecond: rate, etaSeconds: (total - done) / rate };
}
