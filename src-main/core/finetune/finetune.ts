/**
 * Fine-tuning a model on a user's own faces: a short training run that starts
 * from the active checkpoint, shows previews of held-out faces as it goes,
 * and ends as a new profile beside its base (never over it), with both
 * models' figures on the same held-out faces. Pause is a cancel at a step
 * boundary with a checkpoint; resume picks the run up there.
 */
import { copyFile, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { readCheckpointHeader, type CheckpointHeader } from '../model/checkpoint.js';
import { ExpressionModel } from '../model/expression-model.js';
import { totalSteps } from '../training/schedule.js';
import {
  checkpointFileName,
  resumeTraining,
  runSettingsSchema,
  startTraining,
  TrainingError,
  type CurvePoint,
  type RunControl,
  type RunSettings,
  type TrainingEvent,
  type TrainingResult,
} from '../training/trainer.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { fileExists } from '../util/file-exists.js';
import { readFaceSet, type FaceSet } from './face-set.js';
import { calibratedEditScale } from './edit-strength.js';
import {
  evaluateHoldout,
  faceSetFaces,
  previewFacesOf,
  PreviewQueue,
  type HoldoutMetrics,
  type PreviewEvent,
} from './holdout.js';
import { LossWatch } from './loss-watch.js';
import { fileSha256, profilePreviewFile, ProfileStore, type Profile, type ProfileRecord } from './profiles.js';
import {
  defaultFinetunePreset,
  finetuneRunSettings,
  isFinetunePresetName,
  previewEvery,
  type AdvancedSettings,
  type FinetunePresetName,
} from './settings.js';
import { describeWriteError, ensureWritableFolder, FinetuneError, slug, writing } from './storage.js';

export interface FinetuneRequest {
  /** the profile's name, shown to users; its file name is derived from it */
  name: string;
  /** a face set folder (see face-set.ts), labelled and split */
  faceSet: string;
  /** the checkpoint to start from: the default model, a previous profile, a training checkpoint */
  from: string;
  /** where profiles live (the app's model library folder) */
  profilesDir: string;
  /** where the run's checkpoints go (default `<profilesDir>/.finetune/<id>`) */
  workDir?: string;
  preset?: FinetunePresetName;
  advanced?: AdvancedSettings;
}

export type FinetuneEvent =
  TrainingEvent | PreviewEvent | { type: 'evaluating'; model: 'base' | 'tuned'; done: number; total: number };

export interface FinetuneControl {
  /** aborting pauses the run at the next step boundary, with a checkpoint */
  signal?: AbortSignal;
  onEvent?: (event: FinetuneEvent) => void;
}

export interface FinetuneResult {
  status: 'finished' | 'paused';
  workDir: string;
  stepsDone: number;
  totalSteps: number;
  curve: CurvePoint[];
  /** training time over every session of this fine-tune */
  secondsTraining: number;
  /** the new profile, when finished */
  profile?: Profile;
}

const jobSchema = z.object({
  format: z.literal(1),
  id: z.string(),
  name: z.string(),
  profilesDir: z.string(),
  faceSet: z.string(),
  from: z.object({ file: z.string(), sha256: z.string(), name: z.string(), profileId: z.string().optional() }),
  preset: z.string(),
  settings: runSettingsSchema,
  previewEvery: z.number().int().positive(),
  secondsTraining: z.number(),
  /** held-out reconstruction PSNR at each preview, over every session */
  validation: z.array(z.object({ step: z.number(), psnr: z.number() })).default([]),
  createdAt: z.string(),
});
type FinetuneJob = z.infer<typeof jobSchema>;

const jobFileName = 'finetune.json';
const runFolder = 'run';
const previewFileName = 'preview.png';
/** training faces the edit strength is measured on: enough for a steady mean, about a second per model */
const calibrationFaces = 24;

/** Where a fine-tune of `profilesDir` keeps its run unless told otherwise. */
export function defaultWorkDir(profilesDir: string, name: string): string {
  return path.join(profilesDir, '.finetune', slug(name));
}

/** Starts a fine-tune; every input is checked before the first step, so problems show at once. */
export async function startFinetune(request: FinetuneRequest, control: FinetuneControl = {}): Promise<FinetuneResult> {
  const job = await planFinetune(request);
  const workDir = path.resolve(request.workDir ?? defaultWorkDir(job.profilesDir, job.name));
  if (await fileExists(path.join(workDir, jobFileName))) {
    throw new FinetuneError(`${workDir} already holds a fine-tune; resume it or discard it`);
  }
  await ensureWritableFolder(workDir, "the fine-tune's working files");
  await saveJob(workDir, job);
  return execute(workDir, job, await readFaceSet(job.faceSet), control);
}

/** Continues a paused or interrupted fine-tune from its last checkpoint. */
export async function resumeFinetune(workDir: string, control: FinetuneControl = {}): Promise<FinetuneResult> {
  const job = await readJob(workDir);
  if (await new ProfileStore(job.profilesDir).has(job.id)) {
    throw new FinetuneError(`this fine-tune already finished: its profile is ${job.id} in ${job.profilesDir}`);
  }
  return execute(path.resolve(workDir), job, await readFaceSet(job.faceSet), control);
}

/** Deletes a fine-tune's working files (its checkpoints), e.g. when the user cancels it for good. */
export async function discardFinetune(workDir: string): Promise<void> {
  await readJob(workDir);
  await rm(workDir, { recursive: true, force: true });
}

export interface FinetuneStatus {
  workDir: string;
  name: string;
  /** the face set it trains on */
  faceSet: string;
  stepsDone: number;
  totalSteps: number;
}

/** The fine-tunes under a profiles folder that have not finished, so the app can offer to resume them. */
export async function unfinishedFinetunes(profilesDir: string): Promise<FinetuneStatus[]> {
  const root = path.join(profilesDir, '.finetune');
  const names = await readdir(root).catch(() => [] as string[]);
  const found: FinetuneStatus[] = [];
  for (const name of names.sort()) {
    const workDir = path.join(root, name);
    const job = await readJob(workDir).catch(() => undefined);
    if (!job || (await new ProfileStore(job.profilesDir).has(job.id))) continue;
    const step = await savedStep(path.join(workDir, runFolder));
    const total = totalSteps(job.settings.schedule);
    found.push({ workDir, name: job.name, faceSet: job.faceSet, stepsDone: step, totalSteps: total });
  }
  return found;
}

/** Checks the request and works out the run: base, face set, profile id, trainer settings. */
async function planFinetune(request: FinetuneRequest): Promise<FinetuneJob> {
  const name = request.name.trim();
  if (name === '') throw new FinetuneError('a fine-tune needs a name for its profile');
  const preset = request.preset ?? defaultFinetunePreset;
  if (!isFinetunePresetName(preset)) throw new FinetuneError(`unknown preset "${String(preset)}"`);
  const profilesDir = path.resolve(request.profilesDir);
  await ensureWritableFolder(profilesDir, 'profiles');
  const profiles = new ProfileStore(profilesDir);
  const id = slug(name);
  if (await profiles.has(id)) {
    throw new FinetuneError(`a profile "${id}" already exists in ${profilesDir}; choose another name`);
  }
  const from = path.resolve(request.from);
  const baseHeader = await readCheckpointHeader(from);
  const set = await readFaceSet(request.faceSet);
  if (set.counts.train === 0) throw new FinetuneError(`the face set in ${request.faceSet} has no training faces`);
  const settings = finetuneRunSettings({
    baseFile: from,
    baseHeader,
    imagesDir: set.imagesDir,
    labelsCsv: set.labelsCsv,
    trainFaces: set.counts.train,
    preset,
    ...(request.advanced ? { advanced: request.advanced } : {}),
  });
  return {
    format: 1,
    id,
    name,
    profilesDir,
    faceSet: path.resolve(request.faceSet),
    from: {
      file: from,
      sha256: await fileSha256(from),
      name: modelName(baseHeader, from),
      ...profileIdOf(from, profilesDir),
    },
    preset,
    settings,
    previewEvery: previewEvery(settings),
    secondsTraining: 0,
    validation: [],
    createdAt: new Date().toISOString(),
  };
}

/** Trains (from the start or the last checkpoint); when done, evaluates both models and writes the profile. */
async function execute(
  workDir: string,
  job: FinetuneJob,
  set: FaceSet,
  control: FinetuneControl,
): Promise<FinetuneResult> {
  const runDir = path.join(workDir, runFolder);
  // Points past the last checkpoint (a killed session) are measured again as the run repeats those steps.
  const resumedAt = await savedStep(runDir);
  const validation = job.validation.filter((v) => v.step <= resumedAt);
  const previews = new PreviewQueue(await previewFacesOf(set), path.join(workDir, previewFileName), (event) => {
    if (event.type === 'preview') validation.push({ step: event.step, psnr: event.validationPsnr });
    control.onEvent?.(event);
  });
  const resuming = await fileExists(path.join(runDir, checkpointFileName));
  if (!resuming) previews.add(0, () => ExpressionModel.load(job.from.file));
  const total = totalSteps(job.settings.schedule);
  const watch = new LossWatch();
  const trainControl: RunControl = {
    ...(control.signal ? { signal: control.signal } : {}),
    onEvent: (event) => {
      control.onEvent?.(event);
      if (event.type === 'progress') {
        const problem = watch.observe(event);
        // Thrown before the trainer saves this step, so the last checkpoint on disk is still a good one.
        if (problem) throw new FinetuneError(`${problem}; ${keptMessage(workDir, job.settings)}`);
      }
      if (event.type === 'checkpoint' && event.step % job.previewEvery === 0 && event.step < total) {
        previews.add(event.step, () => ExpressionModel.load(event.file));
      }
    },
  };
  let result: TrainingResult;
  try {
    result = resuming
      ? await resumeTraining(runDir, trainControl)
      : await startTraining(runDir, job.settings, trainControl);
  } catch (error) {
    await previews.settle();
    throw explain(error, workDir, job.settings);
  }
  await previews.settle();
  const secondsTraining = job.secondsTraining + result.secondsTraining;
  await saveJob(workDir, { ...job, secondsTraining, validation });
  const outcome = { workDir, stepsDone: result.stepsDone, totalSteps: result.totalSteps, curve: result.curve };
  if (result.status === 'cancelled') return { status: 'paused', ...outcome, secondsTraining };
  const profile = await finish({ ...job, validation }, set, result, secondsTraining, previews, control);
  await cleanUp(workDir, job, profile);
  return { status: 'finished', ...outcome, secondsTraining, profile };
}

/**
 * The tuned model's edit strength matched to the base's, the last preview,
 * both models' figures on the held-out faces, and the profile.
 */
async function finish(
  job: FinetuneJob,
  set: FaceSet,
  result: TrainingResult,
  secondsTraining: number,
  previews: PreviewQueue,
  control: FinetuneControl,
): Promise<Profile> {
  let editScale = 1;
  const loadTuned = async () => {
    const model = await ExpressionModel.load(result.model!);
    model.editScale = editScale;
    return model;
  };
  const tuned = await loadTuned();
  try {
    const base = await unchangedBase(job, control);
    let baseFigures: HoldoutMetrics | undefined;
    try {
      if (base) {
        editScale = calibratedEditScale(base, tuned, await faceSetFaces(set, 'train', calibrationFaces));
        tuned.editScale = editScale;
      }
      previews.add(result.stepsDone, loadTuned);
      await previews.settle();
      if (base) {
        baseFigures = await evaluateHoldout(base, set, (done, total) =>
          control.onEvent?.({ type: 'evaluating', model: 'base', done, total }),
        );
      }
    } finally {
      base?.dispose();
    }
    const tunedMetrics = await evaluateHoldout(tuned, set, (done, total) =>
      control.onEvent?.({ type: 'evaluating', model: 'tuned', done, total }),
    );
    const record = { ...profileRecord(job, set, secondsTraining, baseFigures, tunedMetrics), editScale };
    return await new ProfileStore(job.profilesDir).write(tuned, record, {
      schedule: job.settings.schedule,
      trainedSteps: result.stepsDone,
      curve: result.curve,
    });
  } finally {
    tuned.dispose();
  }
}

/**
 * Once the profile exists the run's checkpoints (several times the model's
 * size) are of no more use: the last preview moves beside the profile, and
 * the working files go (the whole folder when it was the default one).
 */
async function cleanUp(workDir: string, job: FinetuneJob, profile: Profile): Promise<void> {
  const preview = path.join(workDir, previewFileName);
  if (await fileExists(preview)) await copyFile(preview, profilePreviewFile(profile.file)).catch(() => undefined);
  if (workDir === path.resolve(defaultWorkDir(job.profilesDir, job.name))) {
    await rm(workDir, { recursive: true, force: true });
    return;
  }
  await rm(path.join(workDir, runFolder), { recursive: true, force: true });
  await rm(path.join(workDir, jobFileName), { force: true });
}

/** The base, unless its file changed or went away since the fine-tune started (then no calibration or figures). */
async function unchangedBase(job: FinetuneJob, control: FinetuneControl): Promise<ExpressionModel | undefined> {
  const unchanged = (await fileExists(job.from.file)) && (await fileSha256(job.from.file)) === job.from.sha256;
  if (!unchanged) {
    control.onEvent?.({
      type: 'note',
      message: `${job.from.file} changed since the fine-tune began: no base figures, and edits not matched to its strength`,
    });
    return undefined;
  }
  return ExpressionModel.load(job.from.file);
}

function profileRecord(
  job: FinetuneJob,
  set: FaceSet,
  secondsTraining: number,
  base: HoldoutMetrics | undefined,
  tuned: HoldoutMetrics | undefined,
): ProfileRecord {
  const { schedule } = job.settings;
  return {
    format: 1,
    id: job.id,
    name: job.name,
    createdAt: new Date().toISOString(),
    from: job.from,
    faces: {
      faceSet: job.faceSet,
      photos: new Set(set.faces.map((f) => f.photo)).size,
      train: set.counts.train,
      holdout: set.counts.holdout,
      smiling: set.counts.smiling,
      neutral: set.counts.neutral,
    },
    preset: job.preset,
    settings: {
      steps: schedule.phaseSteps,
      learningRate: schedule.learningRate,
      mu: schedule.mu[0],
      batchSize: job.settings.batchSize,
      seed: job.settings.seed,
      trained: job.settings.trained ?? 'all',
    },
    secondsTraining,
    metrics: { ...(base ? { base } : {}), ...(tuned ? { tuned } : {}) },
    validation: job.validation,
  };
}

/** Trainer and file-system failures in the words of a fine-tune. */
function explain(error: unknown, workDir: string, settings: RunSettings): unknown {
  if (error instanceof TrainingError) {
    const diverged = /diverged at step (\d+)/.exec(error.message);
    if (diverged)
      return new FinetuneError(
        `the fine-tune diverged at step ${diverged[1]} (a loss is not a number); ${keptMessage(workDir, settings)}`,
      );
    if (/training data changed/.test(error.message)) {
      return new FinetuneError(
        'the face set changed since this fine-tune began (faces or labels differ); discard it and start a new one',
      );
    }
    return new FinetuneError(error.message);
  }
  return describeWriteError(error, path.join(workDir, runFolder), 'a fine-tune checkpoint');
}

function keptMessage(workDir: string, settings: RunSettings): string {
  return (
    `no profile was written and the last good checkpoint is kept in ${workDir}. ` +
    `Start again with a lower learning rate (this run used ${settings.schedule.learningRate}) or mu (${settings.schedule.mu[0]})`
  );
}

/** The step of the run's last checkpoint (0 before the first). */
async function savedStep(runDir: string): Promise<number> {
  const header = await readCheckpointHeader(path.join(runDir, checkpointFileName)).catch(() => undefined);
  return typeof header?.meta['step'] === 'number' ? header.meta['step'] : 0;
}

async function saveJob(workDir: string, job: FinetuneJob): Promise<void> {
  const file = path.join(workDir, jobFileName);
  await writing(file, 'the fine-tune record', () => writeFileAtomic(file, [Buffer.from(JSON.stringify(job, null, 1))]));
}

async function readJob(workDir: string): Promise<FinetuneJob> {
  const file = path.join(workDir, jobFileName);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) throw new FinetuneError(`${workDir} holds no fine-tune (no ${jobFileName})`);
  const job = jobSchema.safeParse(safeJson(text));
  if (!job.success) throw new FinetuneError(`${file} is damaged`);
  return job.data;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function modelName(header: CheckpointHeader, file: string): string {
  const name = header.meta['name'];
  return typeof name === 'string' && name !== '' ? name : path.basename(file, path.extname(file));
}

/** A base that is itself a profile of the same folder is recorded by id, so rolling back reaches it. */
function profileIdOf(file: string, profilesDir: string): { profileId?: string } {
  return path.dirname(file) === profilesDir && file.endsWith('.mien')
    ? { profileId: path.basename(file, '.mien') }
    : {};
}
