import { Option, type Command } from 'commander';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { numericFields } from '../../core/library/model-library.js';
import { readCheckpointHeader, type CheckpointHeader } from '../../core/model/checkpoint.js';
import { recordInManifest } from '../../core/model/manifest.js';
import { writeFileAtomic } from '../../core/util/atomic-write.js';
import { fileExists } from '../../core/util/file-exists.js';
import type { BackendReport } from '../../core/backend/select-backend.js';
import { runBenchmark, type BenchReport } from '../../core/bench/bench.js';
import { benchPhotoPipeline, type PhotoBenchReport } from '../../core/bench/photo-bench.js';
import { defaultBatchThreads } from '../../core/editing/batch.js';
import { defaultModelPath } from '../../core/model/default-model.js';
import { ExpressionModel } from '../../core/model/expression-model.js';
import {
  modelSizes,
  presetDescriptions,
  presetNames,
  type ModelSize,
  type PresetName,
} from '../../core/model/presets.js';
import { defaultSchedule, expressionJudgedValues, type ExpressionJudged } from '../../core/training/schedule.js';
import {
  defaultClassifierSteps,
  resumeTraining,
  startTraining,
  type TrainingResult,
} from '../../core/training/trainer.js';
import {
  columnNames,
  labelledFaces,
  type LabelledFacesOptions,
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
  positiveNumber,
  presetArg,
  presetList,
  sizeArg,
  sizeList,
  tripleInt,
  pairNumber,
  tripleNumber,
} from '../arguments.js';
import { formatSeconds, type Reporter } from '../reporter.js';
import { backendLine, withCancel, type RunCommand } from '../run-command.js';

/** info, train, resume and bench: the model's own jobs. */
export function registerModelCommands(program: Command, run: RunCommand): void {
  program
    .command('info')
    .description('show the compute backend, the model presets and their parameter counts')
    .action(() =>
      run(async (reporter, backend) => {
        const presets = presetNames.map((preset) => ({
          preset,
          description: presetDescriptions[preset],
          sizes: modelSizes.map((size) => {
            const model = ExpressionModel.create({ preset, size, attribute: 'smiling' });
            const counts = model.parameterCounts();
            model.dispose();
            return { size, ...counts };
          }),
        }));
        reporter.result({ backend, presets }, () =>
          [
            backendLine(backend),
            ...presets.flatMap((p) => [
              `\n${p.preset}: ${p.description}`,
              ...p.sizes.map(
                (s) =>
                  `  ${s.size} px: ${millions(s.total)} parameters (autoencoder ${millions(s.autoencoder)}, discriminator ${millions(s.discriminator)})`,
              ),
            ]),
          ].join('\n'),
        );
      }),
    );

  program
    .command('train')
    .description('train a model on a folder of face images and a labels CSV')
    .requiredOption('--images <dir>', 'folder of face images')
    .requiredOption('--labels <csv>', 'CSV with a `file` column and label columns')
    .option('--label <column>', 'label column to learn', 'smiling')
    .option('--split <name>', 'use only rows whose `split` column has this value')
    .option(
      '--agreeing <column>',
      'use only rows whose value in this column equals the label (Mouth_Slightly_Open: smiles with an open mouth, neutral faces with a closed one), so that the label carries that change too',
    )
    .option(
      '--label-with <columns>',
      "each face's label is the mean of the label column and these (Mouth_Slightly_Open,High_Cheekbones: the label carries the open mouth and raised cheeks CelebA labels apart from the smile)",
      columnNames,
    )
    .option('--limit <n>', 'use at most this many images', positiveInt)
    .option('--preset <name>', `architecture: ${presetNames.join(', ')}`, presetArg, 'paper' as PresetName)
    .option('--size <px>', `model size: ${modelSizes.join(', ')}`, sizeArg, 64 as ModelSize)
    .option('--steps <a,b,c>', 'steps of the three phases', tripleInt, defaultSchedule.phaseSteps)
    .option('--mu <a,b,c>', 'adversarial weight of the three phases', tripleNumber, defaultSchedule.mu)
    .option(
      '--mu-ramp <steps>',
      'ramp mu up over this many steps at the start of each phase',
      nonNegativeInt,
      defaultSchedule.muRampSteps,
    )
    .option(
      '--expression <a,b,c>',
      'weight of the expression loss in the three phases (a classifier must read the flipped label on the edit)',
      tripleNumber,
      [0, 0, 0],
    )
    .option(
      '--expression-temperature <t>',
      "divides the classifier's logits in the expression loss: above 1 it asks for clearer edits",
      positiveNumber,
      1,
    )
    .addOption(
      new Option(
        '--expression-on <what>',
        "what the expression loss's classifier reads: decode (the face decoded with the flipped label) or edit (the edit as the product makes it: the face plus the change between the decodes)",
      )
        .choices(expressionJudgedValues)
        .default('decode'),
    )
    .option(
      '--expression-directions <add,remove>',
      'factors of the expression loss on smiles added (neutral faces) and on smiles removed (smiling faces)',
      pairNumber,
      [1, 1],
    )
    .option(
      '--realism <a,b,c>',
      'weight of the realism loss in the three phases (a critic that learns alongside must take the edits for real faces)',
      tripleNumber,
      [0, 0, 0],
    )
    .option(
      '--mouth-focus <a,b,c>',
      'weight of a penalty, in the three phases, on what the edit changes outside a box around the mouth',
      tripleNumber,
      [0, 0, 0],
    )
    .option(
      '--critic-lr-factor <f>',
      "the realism critic's learning rate as a multiple of the run's (above 1: it keeps up with the edits)",
      positiveNumber,
      1,
    )
    .option(
      '--classifier-steps <n>',
      'steps that train the expression classifier first',
      positiveInt,
      defaultClassifierSteps,
    )
    .option(
      '--classifier-robustness <r>',
      'train the expression classifier on faces moved within this L2 distance to where it reads them worst (0: plainly)',
      nonNegativeNumber,
      0,
    )
    .option(
      '--classifier-from <checkpoint>',
      "use this training checkpoint's expression classifier instead of training one",
    )
    .option(
      '--discriminator-lr-factor <f>',
      "the latent discriminator learns at the run's learning rate times this (above 1 it keeps up with the encoder)",
      positiveNumber,
      1,
    )
    .option(
      '--discriminator-steps <n>',
      'extra latent-discriminator updates after each step, on the codes of recent batches (0: none)',
      nonNegativeInt,
      0,
    )
    .option(
      '--discriminator-memory <batches>',
      'how many recent batches those extra updates draw codes from',
      positiveInt,
      8,
    )
    .option('--lr <rate>', 'Adam learning rate', positiveNumber, defaultSchedule.learningRate)
    .option('--lr-decay <factor>', 'learning-rate factor at each new phase', positiveNumber, defaultSchedule.phaseDecay)
    .option('--batch <n>', 'images per step', positiveInt, 32)
    .option('--checkpoint-every <n>', 'save a checkpoint every n steps', positiveInt, 200)
    .option('--log-every <n>', 'learning-curve point every n steps', positiveInt, 50)
    .option('--brightness <delta>', 'brightness augmentation (images in [-1, 1])', nonNegativeNumber, 0.1)
    .option('--no-flip', 'no horizontal-flip augmentation')
    .option('--seed <n>', 'random seed', nonNegativeInt, 1)
    .option('--out <dir>', 'run folder (checkpoints, final model)')
    .option(
      '--init <checkpoint>',
      "start from this model's weights (same preset; a paper model of half the size is grown to the run's) instead of random ones",
    )
    .action((options: TrainOptions) =>
      run(async (reporter) => {
        const out = options.out ?? path.join('runs', `${options.preset}-${options.size}-${timestamp()}`);
        reporter.note(`training run in ${out}`);
        const result = await withCancel(
          (control) =>
            startTraining(
              out,
              {
                model: { preset: options.preset, size: options.size, attribute: options.label },
                data: {
                  ...labelledFaces(options),
                  ...(options.split ? { split: options.split } : {}),
                  ...(options.agreeing ? { agreeingColumn: options.agreeing } : {}),
                  ...(options.labelWith ? { labelWith: options.labelWith } : {}),
                  ...(options.limit ? { limit: options.limit } : {}),
                },
                schedule: {
                  ...defaultSchedule,
                  phaseSteps: options.steps,
                  mu: options.mu,
                  muRampSteps: options.muRamp,
                  learningRate: options.lr,
                  phaseDecay: options.lrDecay,
                  ...(options.expression.some((w) => w > 0)
                    ? {
                        expressionWeight: options.expression,
                        expressionTemperature: options.expressionTemperature,
                        expressionJudged: options.expressionOn,
                        expressionDirections: {
                          add: options.expressionDirections[0],
                          remove: options.expressionDirections[1],
                        },
                      }
                    : {}),
                  ...(options.mouthFocus.some((w) => w > 0) ? { mouthFocusWeight: options.mouthFocus } : {}),
                  ...(options.discriminatorLrFactor !== 1
                    ? { discriminatorRateFactor: options.discriminatorLrFactor }
                    : {}),
                  ...(options.discriminatorSteps > 0
                    ? {
                        discriminatorReplay: {
                          steps: options.discriminatorSteps,
                          memory: options.discriminatorMemory,
                        },
                      }
                    : {}),
                  ...(options.realism.some((w) => w > 0)
                    ? { realismWeight: options.realism, criticRateFactor: options.criticLrFactor }
                    : {}),
                },
                ...(options.expression.some((w) => w > 0)
                  ? {
                      classifierSteps: options.classifierSteps,
                      classifierRobustness: options.classifierRobustness,
                      ...(options.classifierFrom ? { classifierFrom: path.resolve(options.classifierFrom) } : {}),
                    }
                  : {}),
                batchSize: options.batch,
                checkpointEvery: options.checkpointEvery,
                logEvery: options.logEvery,
                seed: options.seed,
                augmentation: { flip: options.flip, brightness: options.brightness },
                ...(options.init ? { initialModel: path.resolve(options.init) } : {}),
              },
              control,
            ),
          reporter,
        );
        await reportTraining(reporter, out, result);
      }),
    );

  program
    .command('resume')
    .description('continue a training run from its last checkpoint')
    .argument('<run-dir>', 'the run folder given to `train --out`')
    .action((runDir: string) =>
      run(async (reporter) => {
        const result = await withCancel((control) => resumeTraining(runDir, control), reporter);
        await reportTraining(reporter, runDir, result);
      }),
    );

  program
    .command('bench')
    .description('time training and inference of the paper and Fader presets, and the photo pipeline, on this machine')
    .option('--sizes <list>', 'model sizes', sizeList, [64, 128] as ModelSize[])
    .option('--presets <list>', 'presets', presetList, [...presetNames])
    .option('--batch <n>', 'training batch size', positiveInt, 32)
    .option('--repeats <n>', 'timed repetitions (median is reported)', positiveInt, 3)
    .option('--photos <file>', 'also time the photo pipeline on 12-megapixel copies of this portrait')
    .option('--batch-photos <n>', 'photos in the pipeline batch', positiveInt, 8)
    .action(
      (options: {
        sizes: ModelSize[];
        presets: PresetName[];
        batch: number;
        repeats: number;
        photos?: string;
        batchPhotos: number;
      }) =>
        run(async (reporter, backend) => {
          // The photo pipeline first: its peak memory is then that of a process that edits
          // photos, not one whose tfjs heap training has already grown.
          const photos = options.photos ? await benchPhotos(options.photos, options.batchPhotos) : undefined;
          let done = 0;
          const total = options.sizes.length * options.presets.length;
          reporter.progress('bench', 0, total);
          const report = await runBenchmark({
            presets: options.presets,
            sizes: options.sizes,
            batchSize: options.batch,
            repeats: options.repeats,
            onEntry: (e) => reporter.progress('bench', ++done, total, { last: `${e.preset}@${e.size}` }),
          });
          reporter.result({ backend, batchSize: options.batch, ...report, ...(photos ? { photos } : {}) }, () =>
            [benchTable(backend, report), photos ? photoTable(photos) : ''].filter(Boolean).join('\n\n'),
          );
        }),
    );
  registerReleaseCommand(program, run);
}

interface TrainOptions extends LabelledFacesOptions {
  split?: string;
  agreeing?: string;
  labelWith?: string[];
  limit?: number;
  preset: PresetName;
  size: ModelSize;
  steps: [number, number, number];
  mu: [number, number, number];
  expression: [number, number, number];
  expressionTemperature: number;
  expressionOn: ExpressionJudged;
  expressionDirections: [number, number];
  realism: [number, number, number];
  criticLrFactor: number;
  discriminatorLrFactor: number;
  discriminatorSteps: number;
  discriminatorMemory: number;
  classifierSteps: number;
  classifierRobustness: number;
  mouthFocus: [number, number, number];
  classifierFrom?: string;
  muRamp: number;
  lr: number;
  lrDecay: number;
  batch: number;
  checkpointEvery: number;
  logEvery: number;
  brightness: number;
  flip: boolean;
  seed: number;
  out?: string;
  init?: string;
}

/**
 * The run's outcome. A run stopped before its first checkpoint (while its
 * classifier trained, say) has nothing to resume, and says so.
 */
async function reportTraining(reporter: Reporter, runDir: string, result: TrainingResult): Promise<void> {
  const resumable = await fileExists(result.checkpoint);
  reporter.result({ runDir, ...result, resumable }, () => {
    const last = result.curve.at(-1);
    return [
      `${result.status} at step ${result.stepsDone}/${result.totalSteps} in ${formatSeconds(result.secondsTraining)}`,
      `images ${result.images} (skipped ${result.skipped})`,
      last
        ? `last reconstruction MSE ${last.reconstruction.toFixed(4)}, discriminator accuracy ${last.discriminatorAccuracy.toFixed(2)}`
        : '',
      resumable ? `checkpoint ${result.checkpoint}` : '',
      result.model
        ? `model ${result.model}`
        : resumable
          ? `resume with: mien resume ${runDir}`
          : 'stopped before the first checkpoint: nothing to resume; start the run again',
    ]
      .filter(Boolean)
      .join('\n');
  });
}

function benchTable(backend: BackendReport, report: BenchReport): string {
  const header = 'preset  size  params    train ms/img  forward ms/img  infer ms (1 img)  step/forward';
  const rows = report.entries.map((e) =>
    [
      e.preset.padEnd(6),
      String(e.size).padStart(4),
      millions(e.params).padStart(8),
      e.trainMsPerImage.toFixed(1).padStart(13),
      e.forwardMsPerImage.toFixed(1).padStart(15),
      e.inferMsPerImage.toFixed(1).padStart(17),
      e.stepToForwardRatio.toFixed(2).padStart(13),
    ].join('  '),
  );
  const comparisons = report.comparisons.map(
    (c) =>
      `${c.size} px, paper vs Fader: ${(100 * c.fewerParams).toFixed(1)}% fewer parameters, ${(100 * c.lessTrainingTime).toFixed(1)}% less training time per image (the paper claims 43.7% and 36%)`,
  );
  return [backendLine(backend), '', header, ...rows, '', ...comparisons].join('\n');
}

function millions(n: number): string {
  return `${(n / 1e6).toFixed(2)}M`;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

/** The pipeline benchmark runs with the shipped model, or an untrained one of the same shape (speed is the same). */
async function benchPhotos(portrait: string, batchPhotos: number): Promise<PhotoBenchReport> {
  const modelFile = defaultModelPath();
  const model = await ExpressionModel.load(modelFile);
  try {
    // At least two threads, so that the table sets a second photo thread against the calling one alone.
    const threads = Math.max(2, defaultBatchThreads());
    return await benchPhotoPipeline(model, { portrait, batchPhotos, modelFile, threads });
  } finally {
    model.dispose();
  }
}

function photoTable(photos: PhotoBenchReport): string {
  const batchThreads = defaultBatchThreads();
  return [
    `photo pipeline, ${photos.megapixels} MP JPEG with one face:`,
    `  one photo end to end (decode, detect, edit, encode): ${photos.singlePhotoSeconds.toFixed(2)} s`,
    `  batch in one thread: ${photos.batchPhotosPerSecond.toFixed(2)} photos/s, peak memory ${photos.batchPeakRssMb.toFixed(0)} MB`,
    `  batch on ${photos.threads} threads (this one and workers): ${photos.threadedPhotosPerSecond.toFixed(2)} photos/s, peak memory ${photos.threadedPeakRssMb.toFixed(0)} MB`,
    `  the same with --detector fast: ${photos.fastThreadedPhotosPerSecond.toFixed(2)} photos/s, peak memory ${photos.fastThreadedPeakRssMb.toFixed(0)} MB`,
    `  (\`mien batch\` uses ${batchThreads} photo thread${batchThreads === 1 ? '' : 's'} here by default)`,
  ].join('\n');
}

interface TrainingStage {
  file: string;
  settings: unknown;
  step: unknown;
  curve: unknown;
}

/**
 * The runs a checkpoint's weights came from (`train --init`), oldest first,
 * read from their files as they are now; a file that is gone ends the list.
 * Training checkpoints keep their settings and step; finished models their
 * schedule and trained steps.
 */
async function earlierTraining(header: CheckpointHeader, seen = new Set<string>()): Promise<TrainingStage[]> {
  const file = initialModelOf(header.meta);
  if (file === undefined || seen.has(file)) return [];
  seen.add(file);
  const earlier = await readCheckpointHeader(file).catch(() => undefined);
  if (!earlier) return [];
  const released = await releaseRecordOf(file);
  if (released) return [...released.startedFrom, { file, ...released.stage }];
  const { settings, step, trainedSteps, schedule, batchSize, data, curve } = earlier.meta;
  const stage = { file, settings: settings ?? { schedule, batchSize, data }, step: step ?? trainedSteps, curve };
  return [...(await earlierTraining(earlier, seen)), stage];
}

/** A released model keeps its training history in the record beside it (see `mien release`). */
async function releaseRecordOf(
  modelFile: string,
): Promise<{ stage: Omit<TrainingStage, 'file'>; startedFrom: TrainingStage[] } | undefined> {
  const recordFile = releaseRecordFile(modelFile);
  const text = await readFile(recordFile, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const record = JSON.parse(text) as { settings?: unknown; step?: unknown; curve?: unknown; startedFrom?: unknown };
  return {
    stage: { settings: record.settings, step: record.step, curve: record.curve },
    startedFrom: Array.isArray(record.startedFrom) ? (record.startedFrom as TrainingStage[]) : [],
  };
}

function releaseRecordFile(modelFile: string): string {
  return modelFile.replace(/\.mien$/, '') + '.training.json';
}

function initialModelOf(meta: Record<string, unknown>): string | undefined {
  const settings = meta['settings'] as { initialModel?: unknown } | undefined;
  const file = settings?.initialModel ?? meta['initialModel'];
  return typeof file === 'string' ? file : undefined;
}

/**
 * `mien release`: turns a training checkpoint into a model the app ships:
 * weights alone (float16 unless asked otherwise), a name, the evaluation
 * figures, an entry in the folder's manifest, and the run's settings and
 * learning curves in a JSON file beside it.
 */
function registerReleaseCommand(program: Command, run: RunCommand): void {
  program
    .command('release')
    .description('make a shippable model from a checkpoint: float16 weights, manifest entry, training record')
    .argument('<checkpoint>', 'a training checkpoint or model file')
    .requiredOption('--out <file>', 'model file to write (e.g. resources/models/default.mien)')
    .option('--name <text>', 'name shown in the app')
    .option('--metrics <json>', 'a `mien eval --json` result to record with the model')
    .option('--full-precision', 'keep float32 weights (twice the size)', false)
    .action((checkpoint: string, options: { out: string; name?: string; metrics?: string; fullPrecision: boolean }) =>
      run(async (reporter) => {
        const header = await readCheckpointHeader(checkpoint);
        const model = await ExpressionModel.load(checkpoint);
        try {
          const metrics = options.metrics ? numericFields(JSON.parse(await readFile(options.metrics, 'utf8'))) : {};
          const step = typeof header.meta['step'] === 'number' ? header.meta['step'] : undefined;
          const meta = {
            ...(options.name ? { name: options.name } : {}),
            ...(step !== undefined ? { trainingSteps: step } : {}),
            metrics,
            source: path.basename(checkpoint),
          };
          // Read before writing: the run may have started from the very file this release replaces.
          const startedFrom = await earlierTraining(header);
          await mkdir(path.dirname(options.out), { recursive: true });
          await model.save(options.out, meta, !options.fullPrecision);
          await recordInManifest(options.out);
          const record = { settings: header.meta['settings'], step, curve: header.meta['curve'], metrics, startedFrom };
          const recordFile = releaseRecordFile(options.out);
          await writeFileAtomic(recordFile, [Buffer.from(`${JSON.stringify(record, null, 1)}\n`)]);
          reporter.result(
            { out: options.out, record: recordFile, step, metrics },
            () => `${options.out} (step ${step ?? '?'}), training record ${recordFile}`,
          );
        } finally {
          model.dispose();
        }
      }),
    );
}
