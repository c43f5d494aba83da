import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  CheckpointError,
  modelConfigSchema,
  readCheckpoint,
  writeCheckpoint,
  type NamedArray,
} from '../model/checkpoint.js';
import { ExpressionModel } from '../model/expression-model.js';
import { grownModel } from '../model/grow.js';
import type { ExpressionNetwork } from '../model/network.js';
import { BatchSampler } from './batches.js';
import { loadFaceDataset, type FaceDataset } from './dataset.js';
import { phaseAt, scheduleSchema, totalSteps, usesExpressionLoss, usesRealismLoss } from './schedule.js';
import { ExpressionClassifier } from './expression-classifier.js';
import { RealismCritic } from './realism-critic.js';
import { StepRunner, type StepLosses } from './step.js';
import { defaultExpressionSettings, type ExpressionSettings } from './gradients.js';
import { fileExists } from '../util/file-exists.js';
import { GradientHelper } from './gradient-helper.js';
import { currentBackend } from '../backend/select-backend.js';

/** Everything that defines a run; stored in each checkpoint so `resume` needs only the folder. */
export const runSettingsSchema = z.object({
  model: modelConfigSchema,
  data: z.object({
    imagesDir: z.string(),
    labelsCsv: z.string(),
    labelColumn: z.string(),
    split: z.string().optional(),
    /** train only on rows whose value in this column equals the label (see DatasetOptions) */
    agreeingColumn: z.string().optional(),
    /** columns averaged with the label column into each face's label (see DatasetOptions) */
    labelWith: z.array(z.string()).optional(),
    limit: z.number().int().positive().optional(),
  }),
  schedule: scheduleSchema,
  batchSize: z.number().int().positive(),
  checkpointEvery: z.number().int().positive(),
  /** record a learning-curve point every this many steps */
  logEvery: z.number().int().positive(),
  seed: z.number().int(),
  augmentation: z.object({ flip: z.boolean(), brightness: z.number().min(0).max(1) }),
  /** a model or checkpoint whose weights the run starts from (a fine-tune) instead of random ones */
  initialModel: z.string().optional(),
  /** train the decoder alone, keeping the initial model's encoder and discriminator (see TrainedParts) */
  trained: z.enum(['all', 'decoder']).optional(),
  /** steps that train the expression classifier before the run, when the schedule uses the expression loss */
  classifierSteps: z.number().int().positive().optional(),
  /** the L2 distance (images in [-1, 1]) within which the classifier learns to read worst-case faces right; 0 or absent: plain training */
  classifierRobustness: z.number().nonnegative().optional(),
  /** a training checkpoint whose expression classifier the run takes instead of training its own */
  classifierFrom: z.string().optional(),
});
export type RunSettings = z.infer<typeof runSettingsSchema>;

export interface CurvePoint {
  step: number;
  phase: number;
  reconstruction: number;
  adversarial: number;
  discriminator: number;
  discriminatorAccuracy: number;
  /** the expression loss, in runs that use it */
  expression?: number;
  /** the realism loss and the critic's own loss, in runs that use them */
  realism?: number;
  critic?: number;
}

export interface TrainingProgress extends CurvePoint {
  /** steps done so far (1-based count) */
  stepsDone: number;
  totalSteps: number;
  mu: number;
  learningRate: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export type TrainingEvent =
  | { type: 'data'; loaded: number; total: number }
  | { type: 'ready'; images: number; skipped: number; resumedFrom: number }
  | { type: 'classifier'; step: number; totalSteps: number; accuracy: number }
  | ({ type: 'progress' } & TrainingProgress)
  | { type: 'checkpoint'; step: number; file: string };

export interface TrainingResult {
  status: 'finished' | 'cancelled';
  stepsDone: number;
  totalSteps: number;
  checkpoint: string;
  /** the inference model, written when the run finishes */
  model?: string;
  images: number;
  skipped: number;
  curve: CurvePoint[];
  secondsTraining: number;
}

export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}

export interface RunControl {
  signal?: AbortSignal;
  onEvent?: (event: TrainingEvent) => void;
}

export const checkpointFileName = 'checkpoint.mien';
/** Enough for the classifier to read smiles about as well as it ever will on these faces, in a few minutes. */
export const defaultClassifierSteps = 800;
export const modelFileName = 'model.mien';

/** Starts a new run in `runDir` (which must not hold one already). */
export async function startTraining(
  runDir: string,
  settings: RunSettings,
  control: RunControl = {},
): Promise<TrainingResult> {
  const parsed = runSettingsSchema.parse(settings);
  if (parsed.trained === 'decoder' && !parsed.initialModel) {
    throw new TrainingError('training the decoder alone needs an initial model whose encoder it keeps');
  }
  await mkdir(runDir, { recursive: true });
  const checkpoint = path.join(runDir, checkpointFileName);
  if (await fileExists(checkpoint)) {
    throw new TrainingError(`${runDir} already holds a training run; resume it or choose another folder`);
  }
  const data = await loadData(parsed, control);
  const model = await initialModel(parsed);
  const helper = await startHelper(parsed).catch((error: unknown) => {
    model.dispose();
    throw error;
  });
  const run = new TrainingRun(runDir, parsed, data, model, 0, [], undefined, helper);
  return run.execute(control);
}

/** Continues the run in `runDir` from its last checkpoint, on the same schedule. */
export async function resumeTraining(runDir: string, control: RunControl = {}): Promise<TrainingResult> {
  const file = path.join(runDir, checkpointFileName);
  const checkpoint = await readCheckpoint(file);
  if (checkpoint.header.kind !== 'training') throw new CheckpointError(file, 'holds no training state');
  const state = trainingStateSchema.safeParse(checkpoint.header.meta);
  if (!state.success) throw new CheckpointError(file, 'training state is missing or invalid');
  const { settings, step, fingerprint, curve, window } = state.data;
  const data = await loadData(settings, control);
  if (data.fingerprint !== fingerprint) {
    throw new TrainingError(
      `the training data changed since this run started (images or labels differ); start a new run instead`,
    );
  }
  const model = ExpressionModel.fromCheckpoint(file, checkpoint, settings.model);
  const run = new TrainingRun(runDir, settings, data, model, step, curve, window, await startHelper(settings));
  await run.restoreState(checkpoint.tensors);
  return run.execute(control);
}

const curveWindowSchema = z.object({
  reconstruction: z.number(),
  adversarial: z.number(),
  discriminator: z.number(),
  accuracy: z.number(),
  expression: z.number().optional(),
  realism: z.number().optional(),
  critic: z.number().optional(),
  count: z.number(),
});
type CurveWindow = z.infer<typeof curveWindowSchema>;
const emptyWindow = (): CurveWindow => ({
  reconstruction: 0,
  adversarial: 0,
  discriminator: 0,
  accuracy: 0,
  expression: 0,
  realism: 0,
  critic: 0,
  count: 0,
});

const trainingStateSchema = z.object({
  window: curveWindowSchema.optional(),
  settings: runSettingsSchema,
  step: z.number().int().nonnegative(),
  fingerprint: z.string(),
  curve: z.array(
    z.object({
      step: z.number(),
      phase: z.number(),
      reconstruction: z.number(),
      adversarial: z.number(),
      discriminator: z.number(),
      discriminatorAccuracy: z.number(),
      expression: z.number().optional(),
      realism: z.number().optional(),
      critic: z.number().optional(),
    }),
  ),
});

/**
 * Random weights from the seed, or those of `initialModel`, which must have the
 * run's preset; one of half the run's size is grown to it (grownModel).
 */
async function initialModel(settings: RunSettings): Promise<ExpressionModel> {
  const { model: config, initialModel: file, seed } = settings;
  if (!file) return ExpressionModel.create(config, seed);
  const start = await ExpressionModel.load(file, { preset: config.preset, attribute: config.attribute });
  if (start.config.size === config.size) return start;
  const refuse = (reason: string) => new CheckpointError(file, `is a ${start.config.size} px model, ${reason}`);
  try {
    if (settings.trained === 'decoder') {
      throw refuse(`and training the decoder alone needs one of the run's ${config.size} px`);
    }
    if (start.config.size > config.size) throw refuse(`larger than the run's ${config.size} px`);
    try {
      return grownModel(start, config, seed);
    } catch (error) {
      // grownModel says which growth it refuses (another preset, more than one size); the file is named here.
      throw new CheckpointError(file, (error as Error).message);
    }
  } finally {
    start.dispose();
  }
}

async function loadData(settings: RunSettings, control: RunControl): Promise<FaceDataset> {
  return loadFaceDataset({
    ...settings.data,
    size: settings.model.size,
    onProgress: (loaded, total) => control.onEvent?.({ type: 'data', loaded, total }),
  });
}

/** A second thread for half of each batch, where the backend runs on one thread (WebAssembly without its pool). */
function startHelper(settings: RunSettings): Promise<GradientHelper | undefined> {
  const backend = currentBackend();
  return backend ? GradientHelper.startIfUseful(settings.model, backend) : Promise.resolve(undefined);
}

/** One training run: the model, two Adam optimisers, the batch sampler and the loop. */
class TrainingRun {
  private readonly network: ExpressionNetwork;
  private readonly stepper: StepRunner;
  private readonly sampler: BatchSampler;
  private readonly checkpointFile: string;
  private readonly total: number;
  /** losses summed since the last curve point; saved with checkpoints so a resumed curve is the same */
  private sums: CurveWindow = emptyWindow();
  /** the frozen classifier of the expression loss, when the schedule uses it */
  private classifier: ExpressionClassifier | undefined;
  /** the critic of the realism loss, when the schedule uses it; it learns with the autoencoder */
  private readonly critic: RealismCritic | undefined;
  /** a resumed checkpoint's tensors, where a trained classifier may be */
  private restored: Map<string, NamedArray> | undefined;

  constructor(
    private readonly runDir: string,
    private readonly settings: RunSettings,
    private readonly data: FaceDataset,
    private readonly model: ExpressionModel,
    private step = 0,
    private readonly curve: CurvePoint[] = [],
    window?: CurveWindow,
    helper?: GradientHelper,
  ) {
    if (window) this.sums = { ...window };
    this.network = model.network;
    const { schedule } = settings;
    this.stepper = new StepRunner(
      this.network,
      schedule.beta1,
      schedule.beta2,
      schedule.learningRate,
      helper,
      settings.trained,
    );
    this.stepper.discriminatorRateFactor = schedule.discriminatorRateFactor ?? 1;
    if (schedule.discriminatorReplay) this.stepper.useReplay(schedule.discriminatorReplay, settings.seed);
    if (usesRealismLoss(schedule)) {
      this.critic = new RealismCritic(settings.seed);
      this.stepper.useCritic(this.critic, schedule.criticRateFactor ?? 1);
    }
    this.sampler = new BatchSampler(data, settings.batchSize, settings.seed, settings.augmentation);
    this.checkpointFile = path.join(runDir, checkpointFileName);
    this.total = totalSteps(schedule);
  }

  async execute(control: RunControl): Promise<TrainingResult> {
    const resumedFrom = this.step;
    control.onEvent?.({ type: 'ready', images: this.data.count, skipped: this.data.skipped.length, resumedFrom });
    try {
      await this.prepareClassifier(control);
    } catch (error) {
      this.dispose();
      throw error;
    }
    if (control.signal?.aborted) {
      this.dispose();
      return this.result('cancelled', 0);
    }
    const started = performance.now();
    try {
      while (this.step < this.total) {
        if (control.signal?.aborted) break;
        const losses = await this.trainStep();
        this.step++;
        this.record(losses);
        const elapsed = (performance.now() - started) / 1000;
        control.onEvent?.({ type: 'progress', ...this.progress(losses, elapsed, resumedFrom) });
        if (this.step % this.settings.checkpointEvery === 0 || this.step === this.total) {
          await this.saveCheckpoint();
          control.onEvent?.({ type: 'checkpoint', step: this.step, file: this.checkpointFile });
        }
        // Let cancellation and other events in between steps.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const finished = this.step >= this.total;
      if (!finished && this.step > resumedFrom) await this.saveCheckpoint();
      let modelFile: string | undefined;
      if (finished) {
        modelFile = path.join(this.runDir, modelFileName);
        await this.model.save(modelFile, this.modelMeta());
      }
      return this.result(finished ? 'finished' : 'cancelled', (performance.now() - started) / 1000, modelFile);
    } finally {
      this.dispose();
    }
  }

  private result(status: TrainingResult['status'], secondsTraining: number, modelFile?: string): TrainingResult {
    return {
      status,
      stepsDone: this.step,
      totalSteps: this.total,
      checkpoint: this.checkpointFile,
      ...(modelFile ? { model: modelFile } : {}),
      images: this.data.count,
      skipped: this.data.skipped.length,
      curve: this.curve,
      secondsTraining,
    };
  }

  /**
   * The expression loss needs a classifier that reads smiles on real faces: the
   * one in the resumed checkpoint, or one trained now on the run's faces (and
   * saved at once, so a resume does not train it again).
   */
  private async prepareClassifier(control: RunControl): Promise<void> {
    if (!usesExpressionLoss(this.settings.schedule)) return;
    const classifier = new ExpressionClassifier(this.settings.model.size, this.settings.seed);
    this.classifier = classifier;
    const restored = this.restored;
    this.restored = undefined; // the whole checkpoint need not stay in memory for the run
    if (restored && classifier.importWeights(restored)) {
      this.stepper.useClassifier(classifier, this.expressionSettings);
      return;
    }
    if (this.settings.classifierFrom) {
      await this.importClassifier(classifier, this.settings.classifierFrom);
      this.stepper.useClassifier(classifier, this.expressionSettings);
      await this.saveCheckpoint();
      return;
    }
    const total = this.settings.classifierSteps ?? defaultClassifierSteps;
    // Its own sampler and seed: the autoencoder's batches stay those of a run without the classifier.
    const sampler = new BatchSampler(
      this.data,
      this.settings.batchSize,
      this.settings.seed + 1,
      this.settings.augmentation,
    );
    await classifier.train(
      sampler,
      total,
      (step, accuracy) => control.onEvent?.({ type: 'classifier', step, totalSteps: total, accuracy }),
      control.signal,
      this.settings.classifierRobustness ?? 0,
    );
    if (control.signal?.aborted) return;
    this.stepper.useClassifier(classifier, this.expressionSettings);
    await this.saveCheckpoint();
  }

  /** Another run's classifier: robust training takes a quarter of an hour, and runs that differ elsewhere can share it. */
  private async importClassifier(classifier: ExpressionClassifier, file: string): Promise<void> {
    const checkpoint = await readCheckpoint(file);
    if (!classifier.importWeights(checkpoint.tensors)) {
      throw new CheckpointError(file, `holds no expression classifier for ${this.settings.model.size} px faces`);
    }
  }

  private get expressionSettings(): ExpressionSettings {
    const { expressionTemperature, expressionJudged, expressionDirections } = this.settings.schedule;
    const defaults = defaultExpressionSettings;
    return {
      temperature: expressionTemperature ?? defaults.temperature,
      judged: expressionJudged ?? defaults.judged,
      directions: expressionDirections ?? defaults.directions,
    };
  }

  private async trainStep(): Promise<StepLosses> {
    const { mu, learningRate, expressionWeight, realismWeight, mouthFocusWeight } = phaseAt(
      this.settings.schedule,
      this.step,
    );
    const batch = this.sampler.batch(this.step);
    const losses = await this.stepper.run(batch.images, batch.labels, mu, learningRate, {
      expression: expressionWeight,
      realism: realismWeight,
      mouthFocus: mouthFocusWeight,
    });
    if (!Object.values(losses).every(Number.isFinite)) {
      throw new TrainingError(
        `training diverged at step ${this.step + 1} (a loss is not a number); ` +
          `the last good checkpoint is kept at ${this.checkpointFile}. Lower the learning rate or mu and resume.`,
      );
    }
    return losses;
  }

  private record(losses: StepLosses): void {
    const s = this.sums;
    s.reconstruction += losses.reconstruction;
    s.adversarial += losses.adversarial;
    s.discriminator += losses.discriminator;
    s.accuracy += losses.accuracy;
    s.expression = (s.expression ?? 0) + losses.expression;
    s.realism = (s.realism ?? 0) + losses.realism;
    s.critic = (s.critic ?? 0) + losses.critic;
    s.count++;
    if (this.step % this.settings.logEvery === 0 || this.step === this.total) {
      this.curve.push({
        step: this.step,
        phase: phaseAt(this.settings.schedule, this.step - 1).phase,
        reconstruction: s.reconstruction / s.count,
        adversarial: s.adversarial / s.count,
        discriminator: s.discriminator / s.count,
        discriminatorAccuracy: s.accuracy / s.count,
        ...(this.classifier ? { expression: (s.expression ?? 0) / s.count } : {}),
        ...(this.critic ? { realism: (s.realism ?? 0) / s.count, critic: (s.critic ?? 0) / s.count } : {}),
      });
      this.sums = emptyWindow();
    }
  }

  private progress(losses: StepLosses, elapsedSeconds: number, resumedFrom: number): TrainingProgress {
    const state = phaseAt(this.settings.schedule, this.step - 1);
    const stepsThisSession = this.step - resumedFrom;
    const secondsPerStep = elapsedSeconds / Math.max(1, stepsThisSession);
    return {
      step: this.step,
      stepsDone: this.step,
      totalSteps: this.total,
      phase: state.phase,
      mu: state.mu,
      learningRate: state.learningRate,
      reconstruction: losses.reconstruction,
      adversarial: losses.adversarial,
      discriminator: losses.discriminator,
      discriminatorAccuracy: losses.accuracy,
      ...(this.classifier ? { expression: losses.expression } : {}),
      ...(this.critic ? { realism: losses.realism, critic: losses.critic } : {}),
      imagesPerSecond: (this.settings.batchSize * stepsThisSession) / Math.max(elapsedSeconds, 1e-9),
      etaSeconds: secondsPerStep * (this.total - this.step),
    };
  }

  private async saveCheckpoint(): Promise<void> {
    const tensors: NamedArray[] = [
      ...this.network.exportWeights(),
      ...(await this.stepper.exportState()),
      ...(this.classifier?.exportWeights() ?? []),
      ...(this.critic?.exportWeights() ?? []),
    ];
    await writeCheckpoint(this.checkpointFile, {
      kind: 'training',
      config: this.settings.model,
      meta: {
        settings: this.settings,
        step: this.step,
        fingerprint: this.data.fingerprint,
        curve: this.curve,
        window: this.sums,
      },
      tensors,
    });
  }

  /** The optimisers' state, the critic, and the classifier if the checkpoint holds one. */
  async restoreState(tensors: Map<string, NamedArray>): Promise<void> {
    if (this.critic && !this.critic.importWeights(tensors)) {
      throw new CheckpointError(this.checkpointFile, 'the realism critic is missing or does not match');
    }
    await this.stepper.restoreState(tensors);
    this.restored = tensors;
  }

  private modelMeta(): Record<string, unknown> {
    return {
      trainedSteps: this.step,
      ...(this.settings.initialModel ? { initialModel: this.settings.initialModel } : {}),
      data: { ...this.settings.data, images: this.data.count, fingerprint: this.data.fingerprint },
      schedule: this.settings.schedule,
      batchSize: this.settings.batchSize,
      curve: this.curve,
    };
  }

  private dispose(): void {
    this.stepper.dispose();
    this.model.dispose();
    this.classifier?.dispose();
    this.critic?.dispose();
  }
}
