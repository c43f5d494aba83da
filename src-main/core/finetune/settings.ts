/**
 * Fine-tune settings that need no expertise: a preset trades time for
 * quality; the advanced values (steps, learning rate, mu) override it.
 */
import type { CheckpointHeader } from '../model/checkpoint.js';
import { defaultSchedule, totalSteps } from '../training/schedule.js';
import type { TrainedParts } from '../training/gradients.js';
import type { RunSettings } from '../training/trainer.js';

export const finetunePresetNames = ['quick', 'balanced', 'best'] as const;
export type FinetunePresetName = (typeof finetunePresetNames)[number];

export interface FinetunePreset {
  /** steps at the full learning rate, then at the reduced one (the third phase is unused) */
  steps: [number, number, number];
  description: string;
}

/**
 * Two phases: tuning at a low learning rate, then a short polish at a third of
 * it. Sized for a 64 px model on two CPU cores (about 1 s a step at batch 16).
 */
export const finetunePresets: Record<FinetunePresetName, FinetunePreset> = {
  quick: { steps: [80, 40, 0], description: 'about 2 minutes: a first look' },
  balanced: { steps: [160, 80, 0], description: 'about 4 minutes: the default' },
  best: { steps: [400, 200, 0], description: 'about 10 minutes: the closest fit' },
};

export const defaultFinetunePreset: FinetunePresetName = 'balanced';

export interface AdvancedSettings {
  /** steps of the three phases (tune, polish, unused by the presets) */
  steps?: [number, number, number];
  learningRate?: number;
  /** adversarial weight, the same in every phase (no effect when only the decoder learns) */
  mu?: number;
  /** what learns: the decoder alone (the default) or the whole network */
  trained?: TrainedParts;
  batchSize?: number;
  seed?: number;
  /** save a checkpoint every this many steps (a kill loses at most these) */
  checkpointEvery?: number;
}

/**
 * The decoder alone: the base's encoder already maps any face to a latent
 * without its expression; what a person's few faces can teach is how to draw
 * that person back, which is the decoder's job. Tuning the encoder too on a
 * handful of faces lets it drift from the latent the discriminator and the
 * decoder were trained with (measured in the fine-tune benchmark).
 */
export const defaultTrainedParts: TrainedParts = 'decoder';

/**
 * A tenth of the base's rate (2e-4): the base is already good, and a few dozen
 * faces overfit quickly at full speed.
 */
export const finetuneLearningRate = 2e-5;
/** the learning rate of the polish phase, relative to the first */
const polishFactor = 1 / 3;
const maxBatch = 16;
const minBatch = 8;
/** killing the process loses at most this many steps */
export const finetuneCheckpointEvery = 20;
const logEvery = 10;

export function isFinetunePresetName(value: string): value is FinetunePresetName {
  return (finetunePresetNames as readonly string[]).includes(value);
}

/** The trainer settings of a fine-tune of `base` on a face set with `trainFaces` training faces. */
export function finetuneRunSettings(options: {
  baseFile: string;
  baseHeader: CheckpointHeader;
  imagesDir: string;
  labelsCsv: string;
  trainFaces: number;
  preset: FinetunePresetName;
  advanced?: AdvancedSettings;
}): RunSettings {
  const { advanced = {} } = options;
  const mu = advanced.mu ?? baseMu(options.baseHeader);
  return {
    model: options.baseHeader.config,
    data: { imagesDir: options.imagesDir, labelsCsv: options.labelsCsv, labelColumn: 'smiling', split: 'train' },
    schedule: {
      ...defaultSchedule,
      phaseSteps: advanced.steps ?? finetunePresets[options.preset].steps,
      // mu from the start: the base's latent already hides the expression, and must keep doing so.
      mu: [mu, mu, mu],
      muRampSteps: 0,
      learningRate: advanced.learningRate ?? finetuneLearningRate,
      phaseDecay: polishFactor,
    },
    batchSize: advanced.batchSize ?? Math.min(maxBatch, Math.max(minBatch, options.trainFaces)),
    checkpointEvery: advanced.checkpointEvery ?? finetuneCheckpointEvery,
    logEvery,
    seed: advanced.seed ?? 1,
    augmentation: { flip: true, brightness: 0.1 },
    initialModel: options.baseFile,
    trained: advanced.trained ?? defaultTrainedParts,
  };
}

/** Preview grids about four times a run, on checkpoint steps (previews are drawn from checkpoints). */
export function previewEvery(settings: RunSettings): number {
  const total = totalSteps(settings.schedule);
  const every = settings.checkpointEvery;
  return Math.max(every, Math.round(total / 4 / every) * every);
}

/**
 * The adversarial weight the base ended its training with (the last phase's
 * mu of the run that made it), or the paper's 0.01 when the file does not say.
 */
export function baseMu(header: CheckpointHeader): number {
  const meta = header.meta as { settings?: { schedule?: { mu?: unknown } }; schedule?: { mu?: unknown } };
  const mu = meta.settings?.schedule?.mu ?? meta.schedule?.mu;
  const last = Array.isArray(mu) ? mu.at(-1) : undefined;
  return typeof last === 'number' && Number.isFinite(last) ? last : 0.01;
}
