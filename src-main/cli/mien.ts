import { Command, Option } from 'commander';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { backendChoices, requestedBackend, selectBackend, type BackendReport } from '../core/backend/select-backend.js';
import { runBenchmark, type BenchReport } from '../core/bench/bench.js';
import { benchPhotoPipeline, type PhotoBenchReport } from '../core/bench/photo-bench.js';
import { extractCrop } from '../core/faces/alignment.js';
import { detectFaces, scaleFace, type DetectedFace } from '../core/faces/detect-faces.js';
import { runBatch } from '../core/editing/batch.js';
import { evaluateModel } from '../core/evaluation/evaluate.js';
import { detectionSide, editPhoto, freeOutputName, writeEditedPhoto } from '../core/editing/edit-photo.js';
import { writePair, type PairLayout } from '../core/editing/pairs.js';
import { ImageError, readRgbImage } from '../core/images/read-image.js';
import { defaultModelPath } from '../core/model/default-model.js';
import { ExpressionModel } from '../core/model/expression-model.js';
import { writeFileAtomic } from '../core/util/atomic-write.js';
import { modelSizes, presetDescriptions, presetNames, type ModelSize, type PresetName } from '../core/model/presets.js';
import { defaultSchedule } from '../core/training/schedule.js';
import { resumeTraining, startTraining, type RunControl, type TrainingResult } from '../core/training/trainer.js';
import {
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
  finiteNumber,
  positiveNumber,
  presetArg,
  probability,
  presetList,
  sizeArg,
  sizeList,
  tripleInt,
  tripleNumber,
} from './arguments.js';
import { formatSeconds, Reporter } from './reporter.js';

const program = new Command()
  .name('mien')
  .description('Mien: change facial expressions in photos. Every job of the desktop app, headless.')
  .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', ...backendChoices]).default(undefined))
  .option('--json', 'print one JSON object on stdout; progress goes to stderr as JSON lines', false)
  .showHelpAfterError();

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
  .option('--lr <rate>', 'Adam learning rate', positiveNumber, defaultSchedule.learningRate)
  .option('--lr-decay <factor>', 'learning-rate factor at each new phase', positiveNumber, defaultSchedule.phaseDecay)
  .option('--batch <n>', 'images per step', positiveInt, 32)
  .option('--checkpoint-every <n>', 'save a checkpoint every n steps', positiveInt, 200)
  .option('--log-every <n>', 'learning-curve point every n steps', positiveInt, 50)
  .option('--brightness <delta>', 'brightness augmentation (images in [-1, 1])', nonNegativeNumber, 0.1)
  .option('--no-flip', 'no horizontal-flip augmentation')
  .option('--seed <n>', 'random seed', nonNegativeInt, 1)
  .option('--out <dir>', 'run folder (checkpoints, final model)')
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
                imagesDir: options.images,
                labelsCsv: options.labels,
                labelColumn: options.label,
                ...(options.split ? { split: options.split } : {}),
                ...(options.limit ? { limit: options.limit } : {}),
              },
              schedule: {
                ...defaultSchedule,
                phaseSteps: options.steps,
                mu: options.mu,
                muRampSteps: options.muRamp,
                learningRate: options.lr,
                phaseDecay: options.lrDecay,
              },
              batchSize: options.batch,
              checkpointEvery: options.checkpointEvery,
              logEvery: options.logEvery,
              seed: options.seed,
              augmentation: { flip: options.flip, brightness: options.brightness },
            },
            control,
          ),
        reporter,
      );
      reportTraining(reporter, out, result);
    }),
  );

program
  .command('resume')
  .description('continue a training run from its last checkpoint')
  .argument('<run-dir>', 'the run folder given to `train --out`')
  .action((runDir: string) =>
    run(async (reporter) => {
      const result = await withCancel((control) => resumeTraining(runDir, control), reporter);
      reportTraining(reporter, runDir, result);
    }),
  );

program
  .command('bench')
  .description('time training and inference of the paper and Fader presets, and the photo pipeline, on this machine')
  .option('--sizes <list>', 'model sizes', sizeList, [64, 128] as ModelSize[])
  .option('--presets <list>', 'presets', presetList, [...presetNames])
  .option('--batch <n>', 'training batch size', positiveInt, 32)
  .option('--repeats <n>', 'timed repetitions (median is reported)', positiveInt, 3)
  .option('--threads <n>', 'training threads (2: a helper thread takes half of each batch)', positiveInt, 2)
  .option('--photos <file>', 'also time the photo pipeline on 12-megapixel copies of this portrait')
  .option('--batch-photos <n>', 'photos in the pipeline batch', positiveInt, 8)
  .action(
    (options: {
      sizes: ModelSize[];
      presets: PresetName[];
      batch: number;
      repeats: number;
      threads: number;
      photos?: string;
      batchPhotos: number;
    }) =>
      run(async (reporter, backend) => {
        let done = 0;
        const total = options.sizes.length * options.presets.length;
        reporter.progress('bench', 0, total);
        const report = await runBenchmark({
          presets: options.presets,
          sizes: options.sizes,
          batchSize: options.batch,
          repeats: options.repeats,
          threads: options.threads,
          onEntry: (e) => reporter.progress('bench', ++done, total, { last: `${e.preset}@${e.size}` }),
        });
        const photos = options.photos ? await benchPhotos(options.photos, options.batchPhotos) : undefined;
        reporter.result({ backend, batchSize: options.batch, ...report, ...(photos ? { photos } : {}) }, () =>
          [benchTable(backend, report), photos ? photoTable(photos) : ''].filter(Boolean).join('\n\n'),
        );
      }),
  );

/** The pipeline benchmark runs with the shipped model, or an untrained one of the same shape (speed is the same). */
async function benchPhotos(portrait: string, batchPhotos: number): Promise<PhotoBenchReport> {
  const model = await ExpressionModel.load(defaultModelPath()).catch(() =>
    ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }),
  );
  try {
    return await benchPhotoPipeline(model, { portrait, batchPhotos });
  } finally {
    model.dispose();
  }
}

function photoTable(photos: PhotoBenchReport): string {
  return [
    `photo pipeline, ${photos.megapixels} MP JPEG with one face:`,
    `  one photo end to end (decode, detect, edit, encode): ${photos.singlePhotoSeconds.toFixed(2)} s`,
    `  batch: ${photos.batchPhotosPerSecond.toFixed(2)} photos/s, peak memory ${photos.batchPeakRssMb.toFixed(0)} MB`,
  ].join('\n');
}

program
  .command('faces')
  .description('find the faces of a photo: boxes, landmarks, expression and the aligned crop the model edits')
  .argument('<photo>', 'a JPEG, PNG, WebP, TIFF or AVIF file')
  .option('--min-confidence <p>', 'drop detections below this score', probability, 0.4)
  .option('--crops <dir>', 'also write each aligned crop as a PNG into this folder')
  .option('--crop-size <px>', 'side of the written crops', positiveInt, 256)
  .action((photo: string, options: { minConfidence: number; crops?: string; cropSize: number }) =>
    run(async (reporter) => {
      // Detection runs on a scaled-down copy; results are in the photo's own pixels.
      const image = await readRgbImage(photo, { maxSide: detectionSide });
      const factor = image.originalWidth / image.width;
      const faces = (await detectFaces(image, { minConfidence: options.minConfidence })).map((f) =>
        scaleFace(f, factor),
      );
      const crops = options.crops ? await writeCrops(photo, faces, options.crops, options.cropSize) : [];
      const result = {
        photo,
        width: image.originalWidth,
        height: image.originalHeight,
        faces: faces.map(({ landmarks: _, ...face }, i) => ({ ...face, ...(crops[i] ? { crop: crops[i] } : {}) })),
      };
      reporter.result(result, () =>
        faces.length === 0
          ? `${photo}: no face found`
          : [
              `${photo}: ${faces.length} face${faces.length > 1 ? 's' : ''}`,
              ...faces.map(
                (f, i) =>
                  `  ${f.id}: ${Math.round(f.box.width)}x${Math.round(f.box.height)} at (${Math.round(f.box.x)}, ${Math.round(f.box.y)}), ` +
                  `score ${f.score.toFixed(2)}, smiling ${(100 * f.smile).toFixed(0)}%${crops[i] ? `, crop ${crops[i]}` : ''}`,
              ),
            ].join('\n'),
      );
    }),
  );

program
  .command('edit')
  .description("change the expression of a photo's faces and write the result as a new file")
  .argument('<photo>', 'the photo (it is only read)')
  .option(
    '--target <value>',
    'expression for every face: 0 neutral, 1 smiling, between/beyond for intensity',
    finiteNumber,
    1,
  )
  .option('--face <id=value...>', 'expression for one face, e.g. face-2=0 (see `mien faces`)')
  .option('--model <file>', 'model checkpoint (default: the shipped model)')
  .option('--out <file>', 'output file (default: <photo>-edited.<ext> beside it)')
  .option('--quality <q>', 'JPEG/WebP/AVIF quality', positiveInt, 92)
  .option('--strip-metadata', 'leave EXIF and XMP (camera, date, place) out of the output', false)
  .action(
    (
      photo: string,
      options: {
        target: number;
        face?: string[];
        model?: string;
        out?: string;
        quality: number;
        stripMetadata: boolean;
      },
    ) =>
      run(async (reporter) => {
        const model = await ExpressionModel.load(options.model ?? defaultModelPath());
        try {
          const targets = Object.fromEntries((options.face ?? []).map(parseFaceTarget));
          const result = await editPhoto(photo, model, { target: options.target, targets });
          if (result.faces.length === 0) throw new ImageError(photo, 'no face found; nothing to edit');
          const out = options.out ?? (await freeOutputName(photo, 'edited'));
          await writeEditedPhoto(photo, out, result, {
            quality: options.quality,
            keepMetadata: !options.stripMetadata,
          });
          reporter.result({ photo, out, faces: result.edited }, () =>
            [`${out}`, ...result.edited.map((f) => `  ${f.id}: ${f.source.toFixed(2)} -> ${f.target.toFixed(2)}`)].join(
              '\n',
            ),
          );
        } finally {
          model.dispose();
        }
      }),
  );

program
  .command('batch')
  .description('edit every photo of a folder into an output folder (resumable: done outputs are skipped)')
  .argument('<folder>', 'folder of photos (only read)')
  .requiredOption('--out <folder>', 'output folder (must differ from the input)')
  .option('--target <value>', 'expression for every face: 0 neutral, 1 smiling', finiteNumber, 1)
  .option('--recursive', 'include subfolders (their structure is kept)', false)
  .option('--strip-metadata', 'leave EXIF and XMP (camera, date, place) out of the outputs', false)
  .addOption(new Option('--format <format>', 'output format').choices(['same', 'jpeg', 'png', 'webp']).default('same'))
  .option('--quality <q>', 'JPEG/WebP/AVIF quality', positiveInt, 92)
  .option('--model <file>', 'model checkpoint (default: the shipped model)')
  .action(
    (
      folder: string,
      options: {
        out: string;
        target: number;
        recursive: boolean;
        stripMetadata: boolean;
        format: 'same' | 'jpeg' | 'png' | 'webp';
        quality: number;
        model?: string;
      },
    ) =>
      run(async (reporter) => {
        const model = await ExpressionModel.load(options.model ?? defaultModelPath());
        const controller = new AbortController();
        const stop = () => {
          reporter.note('stopping after the photos in progress; run the same command to resume');
          controller.abort();
        };
        process.once('SIGINT', stop);
        try {
          const report = await runBatch(model, {
            inputDir: folder,
            outputDir: options.out,
            target: options.target,
            recursive: options.recursive,
            format: options.format,
            quality: options.quality,
            keepMetadata: !options.stripMetadata,
            signal: controller.signal,
            onProgress: (p) =>
              reporter.progress('photos', p.filesDone, p.files, {
                faces: p.facesEdited,
                'files/s': p.filesPerSecond.toFixed(2),
                eta: formatSeconds(p.etaSeconds),
              }),
          });
          reporter.result(report, () =>
            [
              `${report.written} written, ${report.alreadyDone} already done, ${report.noFace.length} without a face, ${report.failed.length} failed (${report.files} photos, ${formatSeconds(report.seconds)})`,
              ...report.failed.map((f) => `  failed: ${f.error}`),
              report.cancelled ? 'cancelled: run the same command to resume' : '',
            ]
              .filter(Boolean)
              .join('\n'),
          );
          if (report.failed.length > 0) process.exitCode = 2;
        } finally {
          process.off('SIGINT', stop);
          model.dispose();
        }
      }),
  );

program
  .command('pairs')
  .description('export before/after pairs of a photo')
  .argument('<photo>', 'the photo (only read)')
  .requiredOption('--out <folder>', 'folder for the pair')
  .option('--target <value>', 'expression for every face', finiteNumber, 1)
  .addOption(
    new Option('--layout <layout>', 'one image, two files, or both')
      .choices(['side-by-side', 'files', 'both'])
      .default('side-by-side'),
  )
  .option('--labels', 'write Before / After on the side-by-side image', false)
  .addOption(
    new Option('--format <format>', "output format (default: the photo's own)").choices(['jpg', 'png', 'webp']),
  )
  .option('--quality <q>', 'JPEG/WebP quality', positiveInt, 92)
  .option('--model <file>', 'model checkpoint (default: the shipped model)')
  .action(
    (
      photo: string,
      options: {
        out: string;
        target: number;
        layout: PairLayout;
        labels: boolean;
        format?: 'jpg' | 'png' | 'webp';
        quality: number;
        model?: string;
      },
    ) =>
      run(async (reporter) => {
        const model = await ExpressionModel.load(options.model ?? defaultModelPath());
        try {
          const result = await editPhoto(photo, model, { target: options.target });
          if (result.faces.length === 0) throw new ImageError(photo, 'no face found; nothing to edit');
          await mkdir(options.out, { recursive: true });
          const files = await writePair(photo, result.image, options.out, {
            layout: options.layout,
            labels: options.labels,
            quality: options.quality,
            ...(options.format ? { format: options.format } : {}),
          });
          reporter.result({ photo, files, faces: result.edited }, () => files.join('\n'));
        } finally {
          model.dispose();
        }
      }),
  );

program
  .command('eval')
  .description('measure edit quality on labelled face crops: expression flips, identity kept, reconstruction')
  .requiredOption('--images <dir>', 'folder of face crops')
  .requiredOption('--labels <csv>', 'CSV with a `file` column and the label column')
  .option('--label <column>', 'label column', 'smiling')
  .option('--split <name>', 'use only rows whose `split` column has this value')
  .option('--limit <n>', 'evaluate at most this many faces', positiveInt)
  .option('--model <file>', 'model checkpoint (default: the shipped model)')
  .action(
    (options: { images: string; labels: string; label: string; split?: string; limit?: number; model?: string }) =>
      run(async (reporter) => {
        const model = await ExpressionModel.load(options.model ?? defaultModelPath());
        try {
          const report = await evaluateModel(model, {
            imagesDir: options.images,
            labelsCsv: options.labels,
            labelColumn: options.label,
            ...(options.split ? { split: options.split } : {}),
            ...(options.limit ? { limit: options.limit } : {}),
            onProgress: (done, total) => reporter.progress('faces', done, total),
          });
          const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
          reporter.result(report, () =>
            [
              `faces ${report.n} (skipped ${report.skipped.length})`,
              `smile on   ${percent(report.smileOnSuccess)} of ${report.smileOnCount} neutral faces read as smiling after the edit`,
              `smile off  ${percent(report.smileOffSuccess)} of ${report.smileOffCount} smiling faces read as not smiling`,
              `identity   median descriptor distance ${report.identityDistanceMedian.toFixed(3)}, ${percent(report.identityKeptShare)} under 0.45`,
              `reconstruction  PSNR ${report.psnr.toFixed(2)} dB, SSIM ${report.ssim.toFixed(3)}`,
              `judge agrees with the labels on ${percent(report.judgeAgreement)} of the unedited faces`,
            ].join('\n'),
          );
        } finally {
          model.dispose();
        }
      }),
  );

function parseFaceTarget(text: string): [string, number] {
  const [id, value] = text.split('=');
  const number = Number(value);
  if (!id || value === undefined || !Number.isFinite(number)) {
    throw new Error(`--face expects id=value, e.g. face-2=0 (got "${text}")`);
  }
  return [id, number];
}

/** Writes each face's aligned crop (rendered from the full-resolution photo) as a PNG. */
async function writeCrops(photo: string, faces: DetectedFace[], dir: string, size: number): Promise<string[]> {
  const full = await readRgbImage(photo);
  await mkdir(dir, { recursive: true });
  const base = path.parse(photo).name;
  return Promise.all(
    faces.map(async (face) => {
      const file = path.join(dir, `${base}.${face.id}.png`);
      const pixels = extractCrop(full, face.frame, size);
      const png = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toBuffer();
      await writeFileAtomic(file, [png]);
      return file;
    }),
  );
}

interface TrainOptions {
  images: string;
  labels: string;
  label: string;
  split?: string;
  limit?: number;
  preset: PresetName;
  size: ModelSize;
  steps: [number, number, number];
  mu: [number, number, number];
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
}

/** Runs a command with the chosen backend, reporting errors as a clear message and exit code 1. */
async function run(work: (reporter: Reporter, backend: BackendReport) => Promise<void>): Promise<void> {
  const globals = program.opts<{ json: boolean; backend?: string }>();
  const reporter = new Reporter(globals.json);
  try {
    const backend = await selectBackend(requestedBackend(globals.backend));
    await work(reporter, backend);
  } catch (error) {
    reporter.error(error);
    process.exitCode = 1;
  }
}

/** Ctrl-C or SIGTERM stops training cleanly: the current step ends and a checkpoint is saved. */
async function withCancel(
  work: (control: RunControl) => Promise<TrainingResult>,
  reporter: Reporter,
): Promise<TrainingResult> {
  const controller = new AbortController();
  const stop = () => {
    reporter.note('stopping after this step; saving a checkpoint...');
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await work({
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'data') reporter.progress('decoding images', event.loaded, event.total);
        if (event.type === 'ready') {
          reporter.note(
            `${event.images} images loaded, ${event.skipped} skipped${event.resumedFrom ? `; resuming at step ${event.resumedFrom}` : ''}`,
          );
        }
        if (event.type === 'progress') {
          reporter.progress('training', event.stepsDone, event.totalSteps, {
            phase: event.phase,
            mse: event.reconstruction.toFixed(4),
            'dis acc': event.discriminatorAccuracy.toFixed(2),
            'img/s': event.imagesPerSecond.toFixed(1),
            eta: formatSeconds(event.etaSeconds),
          });
        }
      },
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function reportTraining(reporter: Reporter, runDir: string, result: TrainingResult): void {
  reporter.result({ runDir, ...result }, () => {
    const last = result.curve.at(-1);
    return [
      `${result.status} at step ${result.stepsDone}/${result.totalSteps} in ${formatSeconds(result.secondsTraining)}`,
      `images ${result.images} (skipped ${result.skipped})`,
      last
        ? `last reconstruction MSE ${last.reconstruction.toFixed(4)}, discriminator accuracy ${last.discriminatorAccuracy.toFixed(2)}`
        : '',
      `checkpoint ${result.checkpoint}`,
      result.model ? `model ${result.model}` : `resume with: mien resume ${runDir}`,
    ]
      .filter(Boolean)
      .join('\n');
  });
}

function backendLine(backend: BackendReport): string {
  const skipped = backend.skipped.map((s) => `${s.choice}: ${s.reason}`).join('; ');
  return `backend: ${backend.label}${backend.forced ? ' (forced)' : ''}${skipped ? ` (not used: ${skipped})` : ''}`;
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

await program.parseAsync(process.argv);
