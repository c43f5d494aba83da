import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type {
  EventChannel,
  EventOf,
  FaceSetSummary,
  FinetuneProgress,
  JobEnd,
  LossPoint,
  ParsedRequestOf,
  ReplyOf,
} from '../contract/ipc-contract.js';
import { readFaceSet, updateFaceSet, type FaceSet } from '../core/finetune/face-set.js';
import {
  defaultWorkDir,
  discardFinetune,
  unfinishedFinetunes,
  type FinetuneRequest,
} from '../core/finetune/finetune.js';
import { ProfileStore } from '../core/finetune/profiles.js';
import {
  baseMu,
  defaultFinetunePreset,
  defaultTrainedParts,
  finetuneLearningRate,
  finetunePresetNames,
  finetunePresets,
  type AdvancedSettings,
} from '../core/finetune/settings.js';
import { FinetuneError, slug } from '../core/finetune/storage.js';
import { builtInModelId } from '../core/library/model-library.js';
import { readCheckpointHeader } from '../core/model/checkpoint.js';
import type { JobResult, ComputeProgress } from '../worker/compute-service.js';
import type { FinetuneJob, FinetuneUpdate } from '../worker/finetune-jobs.js';
import { ComputeWorkerStoppedError, type ComputeClient } from './compute-client.js';
import type { Handlers } from './dispatch.js';
import type { FolderAccess } from './folder-access.js';

export type StartJob = (
  kind: JobEnd['kind'],
  run: (jobId: string, progress: (p: ComputeProgress) => void) => Promise<JobResult>,
) => { jobId: string; ended: Promise<void> };

export interface FinetuneContext {
  /** where face sets are kept (`<dataDir>/finetune/faces/<id>`) */
  dataDir: string;
  /** the model library's folder: profiles land there, their runs in its `.finetune/` */
  modelsDir: string;
  access: FolderAccess;
  compute: ComputeClient;
  /** the model a new fine-tune starts from */
  activeModelFile(): Promise<string>;
  startJob: StartJob;
  emit<E extends EventChannel>(event: E, body: EventOf<E>): void;
}

type FinetuneChannel =
  | 'finetune:collect'
  | 'finetune:faceSet'
  | 'finetune:relabel'
  | 'finetune:presets'
  | 'finetune:start'
  | 'finetune:pause'
  | 'finetune:resume'
  | 'finetune:discard'
  | 'finetune:unfinished';

export interface FinetuneServices {
  handlers: Pick<Handlers, FinetuneChannel>;
  /** whether a fine-tune is training now */
  running(): boolean;
  /** Pauses every running fine-tune (a checkpoint each) and waits up to `timeoutMs` for them to stop. */
  pauseAll(timeoutMs: number): Promise<void>;
}

/** Side of the face crops sent to the review grid; the stored crops are larger. */
const reviewCropSide = 96;
/** The fine-tune screen gets progress at most this often; the step counts are in every event. */
const progressIntervalMs = 250;

/**
 * The fine-tune channels: faces collected into face sets (in the compute
 * worker), corrected by the user, then trained into a profile of the model
 * library, with pause, resume and discard. One fine-tune trains at a time.
 */
export function createFinetuneServices(context: FinetuneContext): FinetuneServices {
  const { access, compute, modelsDir } = context;
  const runs = new Map<string, { jobId: string; ended: Promise<void> }>();
  const faceSetDir = (faceSetId: string) => path.join(context.dataDir, 'finetune', 'faces', faceSetId);
  const workDirOf = (runId: string) => defaultWorkDir(modelsDir, runId);

  /**
   * A worker that dies mid-run (a crash in native code, out of memory) takes no
   * pause checkpoint: the failure names the checkpoint that is kept, so the
   * user knows what resuming loses.
   */
  const explainStoppedWorker = async (error: unknown, runId: string): Promise<unknown> => {
    if (!(error instanceof ComputeWorkerStoppedError)) return error;
    const unfinished = await unfinishedFinetunes(modelsDir).catch(() => []);
    const kept = unfinished.find((u) => path.basename(u.workDir) === runId);
    if (!kept) return error;
    const resuming =
      kept.stepsDone > 0
        ? `its last checkpoint (step ${kept.stepsDone} of ${kept.totalSteps}) is kept: resume it to go on from there`
        : 'it stopped before its first checkpoint: resume it to start again';
    return new FinetuneError(`${error.message} during the fine-tune; ${resuming}`);
  };

  const launch = (runId: string, job: FinetuneJob) => {
    const started = context.startJob('finetune', (jobId, progress) => {
      const relay = new FinetuneRelay(jobId, runId, context.emit);
      return compute
        .job('finetune', [jobId, job], progress, (update) => relay.update(update))
        .catch(async (error: unknown) => {
          throw await explainStoppedWorker(error, runId);
        })
        .finally(() => relay.flush());
    });
    runs.set(runId, started);
    void started.ended.finally(() => runs.delete(runId));
    return { jobId: started.jobId, runId };
  };

  const refuseWhileRunning = () => {
    if (runs.size > 0) throw new FinetuneError('a fine-tune is running already; pause it or let it finish first');
  };

  const handlers: FinetuneServices['handlers'] = {
    'finetune:collect': async ({ source, person, holdout }) => {
      const selection =
        'folder' in source
          ? { folder: await access.check(source.folder), recursive: source.recursive }
          : { files: await Promise.all(source.photos.map((p) => access.check(p))) };
      const chosenPerson = person ? { photo: await access.check(person.photo), faceId: person.faceId } : undefined;
      const faceSetId = newFaceSetId();
      const job = {
        selection,
        faceSetDir: faceSetDir(faceSetId),
        ...(chosenPerson ? { person: chosenPerson } : {}),
        ...(holdout !== undefined ? { holdout } : {}),
      };
      const { jobId } = context.startJob('faces', (id, progress) => compute.job('collectFaces', [id, job], progress));
      return { jobId, faceSetId };
    },

    'finetune:faceSet': async ({ faceSetId }) => {
      const set = await readSet(faceSetDir(faceSetId));
      const summary = summaryOf(faceSetId, set);
      const images = await mapInChunks(set.faces, 16, (face) => reviewCrop(path.join(set.imagesDir, face.file)));
      return { ...summary, faces: summary.faces.map((face, i) => ({ ...face, image: images[i]!, mime: 'image/png' })) };
    },

    'finetune:relabel': async ({ faceSetId, changes }) => {
      const dir = faceSetDir(faceSetId);
      await readSet(dir);
      const set = await updateFaceSet(
        dir,
        changes.map((change) => ({
          file: change.file,
          ...(change.smiling !== undefined ? { smiling: change.smiling ? (1 as const) : (0 as const) } : {}),
          ...(change.split ? { split: change.split } : {}),
          ...(change.exclude ? { remove: true } : {}),
        })),
      );
      return summaryOf(faceSetId, set);
    },

    'finetune:presets': async () => presetsReply(await context.activeModelFile()),

    'finetune:start': async ({ faceSetId, name, preset, advanced }) => {
      refuseWhileRunning();
      const runId = slug(name);
      await checkProfileName(runId, name);
      const set = await readSet(faceSetDir(faceSetId));
      if (set.counts.train === 0) throw new FinetuneError('every face is held out: keep some faces for training');
      const request: FinetuneRequest = {
        name,
        faceSet: set.dir,
        from: await context.activeModelFile(),
        profilesDir: modelsDir,
        ...(preset ? { preset } : {}),
        ...(advanced ? { advanced: advancedSettings(advanced) } : {}),
      };
      return launch(runId, { start: request });
    },

    'finetune:pause': async ({ runId }) => {
      const run = runs.get(runId);
      if (!run) throw new FinetuneError('that fine-tune is not running');
      await compute.call('cancel', run.jobId);
      return { ok: true };
    },

    'finetune:resume': async ({ runId }) => {
      refuseWhileRunning();
      const known = (await unfinishedFinetunes(modelsDir)).some((u) => path.basename(u.workDir) === runId);
      if (!known) throw new FinetuneError('there is no paused fine-tune of that name (it finished or was discarded)');
      return launch(runId, { resume: workDirOf(runId) });
    },

    'finetune:discard': async ({ runId }) => {
      const run = runs.get(runId);
      if (run) {
        // Stopped first, so nothing writes a checkpoint into the folder while it goes.
        await compute.call('cancel', run.jobId);
        await run.ended;
      }
      await discardFinetune(workDirOf(runId));
      return { ok: true };
    },

    'finetune:unfinished': async () => {
      const found = await unfinishedFinetunes(modelsDir);
      return {
        runs: found.map((u) => {
          const runId = path.basename(u.workDir);
          return {
            runId,
            name: u.name,
            stepsDone: u.stepsDone,
            totalSteps: u.totalSteps,
            jobId: runs.get(runId)?.jobId ?? null,
          };
        }),
      };
    },
  };

  /** A name must make a new profile: not the shipped model's id, no existing model, no paused run of it. */
  const checkProfileName = async (runId: string, name: string) => {
    if (runId === builtInModelId) throw new FinetuneError(`“${name}” names the shipped model; choose another name`);
    if (await new ProfileStore(modelsDir).has(runId)) {
      throw new FinetuneError(`a model called “${name}” exists already; choose another name`);
    }
    if ((await unfinishedFinetunes(modelsDir)).some((u) => path.basename(u.workDir) === runId)) {
      throw new FinetuneError(`a fine-tune called “${name}” is paused; resume or discard it, or choose another name`);
    }
  };

  return {
    handlers,
    running: () => runs.size > 0,
    pauseAll: async (timeoutMs) => {
      const running = [...runs.values()];
      if (running.length === 0) return;
      await Promise.all(running.map((run) => compute.call('cancel', run.jobId).catch(() => false)));
      await Promise.race([
        Promise.all(running.map((run) => run.ended)),
        new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
    },
  };
}

/**
 * Turns one fine-tune job's updates into `finetune:progress` events at a
 * steady pace (each carrying the loss points since the one before) and sends
 * every preview as it comes.
 */
export class FinetuneRelay {
  private state: Omit<FinetuneProgress, 'points'>;
  private points: LossPoint[] = [];
  private lastSent = 0;

  constructor(
    private readonly jobId: string,
    private readonly runId: string,
    private readonly emit: FinetuneContext['emit'],
  ) {
    this.state = {
      jobId,
      runId,
      stage: 'loading',
      step: 0,
      totalSteps: 0,
      phase: 1,
      reconstruction: 0,
      adversarial: 0,
      discriminator: 0,
      discriminatorAccuracy: 0,
      etaSeconds: 0,
      message: '',
    };
  }

  update(update: FinetuneUpdate): void {
    switch (update.type) {
      case 'preview':
        this.emit('finetune:preview', {
          jobId: this.jobId,
          runId: this.runId,
          step: update.step,
          image: update.png,
          mime: 'image/png',
        });
        return;
      case 'history':
        this.points.push(...update.points);
        return this.send(true);
      case 'stage': {
        const changed = update.stage !== this.state.stage;
        this.state = { ...this.state, stage: update.stage, message: update.message };
        return this.send(changed);
      }
      case 'step': {
        this.state = {
          ...this.state,
          stage: 'training',
          step: update.step,
          totalSteps: update.totalSteps,
          phase: update.phase,
          reconstruction: update.reconstruction,
          adversarial: update.adversarial,
          discriminator: update.discriminator,
          discriminatorAccuracy: update.discriminatorAccuracy,
          etaSeconds: update.etaSeconds,
          message: '',
        };
        this.points.push({
          step: update.step,
          phase: update.phase,
          reconstruction: update.reconstruction,
          adversarial: update.adversarial,
          discriminator: update.discriminator,
          discriminatorAccuracy: update.discriminatorAccuracy,
        });
        return this.send(update.step === update.totalSteps);
      }
    }
  }

  /** Sends what is pending (the job ended), so the last steps reach the chart. */
  flush(): void {
    if (this.points.length > 0) this.send(true);
  }

  private send(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.lastSent < progressIntervalMs) return;
    this.lastSent = now;
    this.emit('finetune:progress', { ...this.state, points: this.points });
    this.points = [];
  }
}

function newFaceSetId(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

async function readSet(dir: string): Promise<FaceSet> {
  return readFaceSet(dir).catch(() => {
    throw new FinetuneError('that face set does not exist (yet): collect faces first');
  });
}

function summaryOf(faceSetId: string, set: FaceSet): FaceSetSummary {
  return {
    faceSetId,
    faces: set.faces.map((face) => ({
      file: face.file,
      smiling: face.smiling === 1,
      split: face.split,
      detectedSmile: face.classifierSmile,
      corrected: face.corrected,
      photo: face.photo,
      faceId: face.faceId,
    })),
    counts: set.counts,
    warnings: set.warnings,
  };
}

async function reviewCrop(file: string): Promise<Uint8Array> {
  const png = await sharp(await readFile(file))
    .resize(reviewCropSide, reviewCropSide)
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Runs `work` over items a chunk at a time, so a large set does not open hundreds of files at once. */
async function mapInChunks<T, R>(items: T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return out;
}

/** One number of steps for people, split like the presets: two thirds tuning, one third polish. */
function advancedSettings(advanced: NonNullable<ParsedRequestOf<'finetune:start'>['advanced']>): AdvancedSettings {
  const steps = advanced.steps;
  const tune = steps === undefined ? 0 : Math.max(1, Math.round((steps * 2) / 3));
  return {
    ...(steps !== undefined ? { steps: [tune, steps - tune, 0] as [number, number, number] } : {}),
    ...(advanced.learningRate !== undefined ? { learningRate: advanced.learningRate } : {}),
    ...(advanced.mu !== undefined ? { mu: advanced.mu } : {}),
    ...(advanced.wholeNetwork !== undefined ? { trained: advanced.wholeNetwork ? 'all' : 'decoder' } : {}),
  };
}

async function presetsReply(activeFile: string): Promise<ReplyOf<'finetune:presets'>> {
  const header = await readCheckpointHeader(activeFile).catch(() => undefined);
  const stepsOf = (steps: [number, number, number]) => steps[0] + steps[1] + steps[2];
  return {
    presets: finetunePresetNames.map((id) => ({
      id,
      steps: stepsOf(finetunePresets[id].steps),
      description: finetunePresets[id].description,
    })),
    defaultPreset: defaultFinetunePreset,
    advanced: {
      steps: stepsOf(finetunePresets[defaultFinetunePreset].steps),
      learningRate: finetuneLearningRate,
      mu: header ? baseMu(header) : 0.01,
      wholeNetwork: defaultTrainedParts === 'all',
    },
  };
}
