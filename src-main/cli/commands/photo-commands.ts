import type { Command } from 'commander';
import { Option } from 'commander';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { defaultBatchThreads, listPhotos, runBatch } from '../../core/editing/batch.js';
import { editPhoto, findPhotoFaces, freeOutputName, writeEditedPhoto } from '../../core/editing/edit-photo.js';
import { writePair, type PairLayout } from '../../core/editing/pairs.js';
import { evaluateModel, sharpnessKeptAt } from '../../core/evaluation/evaluate.js';
import { writeEditGrid } from '../../core/evaluation/grid.js';
import { probeLatent, type StrongestColumn } from '../../core/evaluation/latent-probe.js';
import { readLabelledRows } from '../../core/training/dataset.js';
import { extractCrop } from '../../core/faces/alignment.js';
import {
  defaultMinConfidence,
  faceDetectorKinds,
  fastDetector,
  type DetectedFace,
  type FaceDetectorKind,
} from '../../core/faces/detect-faces.js';
import { ImageError, readRgbImage } from '../../core/images/read-image.js';
import { defaultModelPath } from '../../core/model/default-model.js';
import { ExpressionModel } from '../../core/model/expression-model.js';
import { writeFileAtomic } from '../../core/util/atomic-write.js';
import {
  columnEquals,
  finiteNumber,
  handoverLevelsArg,
  labelledFaces,
  positiveInt,
  probability,
  type LabelledFacesOptions,
} from '../arguments.js';
import { formatSeconds } from '../reporter.js';
import type { RunCommand } from '../run-command.js';
import { ensureWritableFolder } from '../../core/util/write-failure.js';

/** faces, edit, batch, pairs and eval: the jobs on photos. */
export function registerPhotoCommands(program: Command, run: RunCommand): void {
  program
    .command('faces')
    .description('find the faces of a photo: boxes, landmarks, expression and the aligned crop the model edits')
    .argument('<photo>', 'a JPEG, PNG, WebP, TIFF or AVIF file')
    .option(
      '--min-confidence <p>',
      `drop detections below this score (default: ${defaultMinConfidence}, with --detector fast ${fastDetector.scoreThreshold})`,
      probability,
    )
    .addOption(detectorOption())
    .option('--crops <dir>', 'also write each aligned crop as a PNG into this folder')
    .option('--crop-size <px>', 'side of the written crops', positiveInt, 256)
    .action(
      (
        photo: string,
        options: { minConfidence?: number; detector: FaceDetectorKind; crops?: string; cropSize: number },
      ) =>
        run(async (reporter) => {
          // Detection runs on a scaled-down copy; results are in the photo's own pixels.
          const { preview: image, faces } = await findPhotoFaces(photo, {
            detector: options.detector,
            ...(options.minConfidence !== undefined ? { minConfidence: options.minConfidence } : {}),
          });
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
    .addOption(detectorOption())
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
          detector: FaceDetectorKind;
        },
      ) =>
        run(async (reporter) => {
          await withModel(options.model, async (model) => {
            const targets = Object.fromEntries((options.face ?? []).map(parseFaceTarget));
            const result = await editPhoto(photo, model, {
              target: options.target,
              targets,
              detector: options.detector,
            });
            if (result.faces.length === 0) throw new ImageError(photo, 'no face found; nothing to edit');
            const out = options.out ?? (await freeOutputName(photo, 'edited'));
            await writeEditedPhoto(photo, out, result, {
              quality: options.quality,
              keepMetadata: !options.stripMetadata,
            });
            reporter.result({ photo, out, faces: result.edited }, () =>
              [
                `${out}`,
                ...result.edited.map((f) => `  ${f.id}: ${f.source.toFixed(2)} -> ${f.target.toFixed(2)}`),
              ].join('\n'),
            );
          });
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
    .addOption(
      new Option('--format <format>', 'output format').choices(['same', 'jpeg', 'png', 'webp']).default('same'),
    )
    .option('--quality <q>', 'JPEG/WebP/AVIF quality', positiveInt, 92)
    .option('--model <file>', 'model checkpoint (default: the shipped model)')
    .option(
      '--threads <n>',
      'threads editing photos in parallel, this one included (default: this one alone where its WebAssembly pool uses every core; else two on two or three cores, one per two cores beyond)',
      positiveInt,
    )
    .addOption(detectorOption())
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
          threads?: number;
          detector: FaceDetectorKind;
        },
      ) =>
        run(async (reporter) => {
          const controller = new AbortController();
          const stop = () => {
            reporter.note('stopping after the photos in progress; run the same command to resume');
            controller.abort();
          };
          process.once('SIGINT', stop);
          try {
            const report = await withModel(options.model, (model) =>
              runBatch(model, {
                inputDir: folder,
                outputDir: options.out,
                target: options.target,
                recursive: options.recursive,
                format: options.format,
                quality: options.quality,
                keepMetadata: !options.stripMetadata,
                detector: options.detector,
                threads: options.threads ?? defaultBatchThreads(),
                modelFile: options.model ?? defaultModelPath(),
                signal: controller.signal,
                onProgress: (p) =>
                  reporter.progress('photos', p.filesDone, p.files, {
                    faces: p.facesEdited,
                    'files/s': p.filesPerSecond.toFixed(2),
                    eta: formatSeconds(p.etaSeconds),
                  }),
              }),
            );
            reporter.result(report, () =>
              [
                `${report.written} written, ${report.alreadyDone} already done, ${report.noFace.length} without a face, ${report.failed.length} failed (${report.files} photos, ${formatSeconds(report.seconds)})`,
                ...report.unreadable.map((file) => `  not readable here (convert it to JPEG): ${file}`),
                ...report.failed.map((f) => `  failed: ${f.error}`),
                report.cancelled ? 'cancelled: run the same command to resume' : '',
              ]
                .filter(Boolean)
                .join('\n'),
            );
            if (report.failed.length > 0) process.exitCode = 2;
          } finally {
            process.off('SIGINT', stop);
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
          await withModel(options.model, async (model) => {
            const result = await editPhoto(photo, model, { target: options.target });
            if (result.faces.length === 0) throw new ImageError(photo, 'no face found; nothing to edit');
            await ensureWritableFolder(options.out, 'the pairs');
            const files = await writePair(photo, result, options.out, {
              layout: options.layout,
              labels: options.labels,
              quality: options.quality,
              ...(options.format ? { format: options.format } : {}),
            });
            reporter.result({ photo, files, faces: result.edited }, () => files.join('\n'));
          });
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
    .option(
      '--where <column=value>',
      'use only rows with this value in this column (Mouth_Slightly_Open=1: open-mouthed faces)',
      columnEquals,
    )
    .option('--model <file>', 'model checkpoint (default: the shipped model)')
    .option('--on <value>', 'expression value asked of neutral faces', finiteNumber, 1)
    .option('--off <value>', 'expression value asked of smiling faces', finiteNumber, 0)
    .addOption(handoverOption())
    .action(
      (
        options: LabelledFacesOptions & {
          split?: string;
          limit?: number;
          where?: { column: string; value: string };
          model?: string;
          on: number;
          off: number;
          handover?: [number, number];
        },
      ) =>
        run(async (reporter) => {
          await withModel(options.model, async (model) => {
            const report = await evaluateModel(model, {
              ...labelledFaces(options),
              smileOn: options.on,
              smileOff: options.off,
              ...(options.handover ? { handover: options.handover } : {}),
              ...(options.split ? { split: options.split } : {}),
              ...(options.limit ? { limit: options.limit } : {}),
              ...(options.where ? { where: options.where } : {}),
              onProgress: (done, total) => reporter.progress('faces', done, total),
            });
            reporter.result(report, () =>
              [
                `faces ${report.n} (skipped ${report.skipped.length})`,
                `smile on   ${percent(report.smileOnSuccess)} of ${report.smileOnCount} neutral faces read as smiling after the edit`,
                `smile off  ${percent(report.smileOffSuccess)} of ${report.smileOffCount} smiling faces read as not smiling`,
                `identity   median descriptor distance ${report.identityDistanceMedian.toFixed(3)}, ${percent(report.identityKeptShare)} under 0.45 ` +
                  `(${percent(report.identityKeptOn)} of smile-on edits, ${percent(report.identityKeptOff)} of smile-off edits)`,
                `reconstruction  PSNR ${report.psnr.toFixed(2)} dB, SSIM ${report.ssim.toFixed(3)}`,
                `mouth sharpness  median ${report.mouthSharpnessMedian.toFixed(2)} of the photo's, ` +
                  `${percent(report.mouthSharpnessKept)} of edits keep ${sharpnessKeptAt} of it or more ` +
                  `(${percent(report.mouthSharpnessKeptOn)} of smile-on edits, ${percent(report.mouthSharpnessKeptOff)} of smile-off edits)`,
                `judge agrees with the labels on ${percent(report.judgeAgreement)} of the unedited faces ` +
                  `(reads ${percent(report.smileOnCeiling)} of real smiles as smiling, ` +
                  `${percent(report.smileOffCeiling)} of neutral faces as not smiling)`,
              ].join('\n'),
            );
          });
        }),
    );
  registerGridCommand(program, run);
  registerProbeCommand(program, run);
}

/** `mien probe`: how much of the label a fresh classifier still reads from the model's latent codes. */
function registerProbeCommand(program: Command, run: RunCommand): void {
  program
    .command('probe')
    .description(
      "how well a fresh classifier reads the label from the model's latent codes (of test faces), against its own latent discriminator",
    )
    .requiredOption('--images <dir>', 'folder of face crops')
    .requiredOption('--labels <csv>', 'CSV with `file`, `split` and the label column')
    .option('--label <column>', 'label column', 'smiling')
    .option('--train-faces <n>', 'training faces the classifier learns from', positiveInt, 3000)
    .option('--test-faces <n>', 'test faces it is measured on', positiveInt, 1000)
    .option('--steps <n>', 'its training steps (batches of 64)', positiveInt, 2000)
    .option('--model <file>', 'model checkpoint (default: the shipped model)')
    .action(
      (
        options: LabelledFacesOptions & {
          trainFaces: number;
          testFaces: number;
          steps: number;
          model?: string;
        },
      ) =>
        run(async (reporter) => {
          await withModel(options.model, async (model) => {
            const report = await probeLatent(model, {
              ...labelledFaces(options),
              trainFaces: options.trainFaces,
              testFaces: options.testFaces,
              steps: options.steps,
              onProgress: (stage, done, total) => reporter.progress(stage, done, total),
            });
            reporter.result(report, () =>
              [
                `a fresh classifier reads "${options.label}" from the codes of ${report.testFaces} test faces: ${percent(report.probeAccuracy)}`,
                `the model's latent discriminator: ${percent(report.discriminatorAccuracy)} (chance: ${percent(report.chance)})`,
                ...strongestColumnLines(report.strongestColumn),
              ].join('\n'),
            );
          });
        }),
    );
}

/** `--handover` of eval and grid: the levels of a removal's handover (see HandoverLevels). */
function handoverOption(): Option {
  return new Option(
    '--handover <low,high>',
    "where a removal changes the face's luma by more than low levels (wholly above high), the photo gives way to the model's drawing",
  ).argParser(handoverLevelsArg);
}

/** A share as a percentage with one decimal, as the reports print them. */
function percent(share: number): string {
  return `${(100 * share).toFixed(1)}%`;
}

/** The probe's bar in words: the column that alone tells the label best, and the probe within its groups. */
function strongestColumnLines(strongest: StrongestColumn | undefined): string[] {
  if (!strongest) return [];
  return [
    `the column that alone tells it best, ${strongest.column}: ${percent(strongest.accuracy)}`,
    ...strongest.groups.map(
      (g) =>
        `  where ${strongest.column} is ${g.value} (${g.faces} faces): the classifier ${percent(g.probeAccuracy)}, the larger class ${percent(g.majority)}`,
    ),
  ];
}

/** `mien grid`: a picture grid of edits on labelled faces, half of them neutral and half smiling. */
function registerGridCommand(program: Command, run: RunCommand): void {
  program
    .command('grid')
    .description('picture grid of edits (original | smile off | smile on | intensity 0.5 and 1.5)')
    .option('--images <dir>', 'folder of labelled face crops (with --labels)')
    .option('--labels <csv>', 'CSV with a `file` column and the label column')
    .option('--photos <dir>', 'or: a folder of photos (the first face of each)')
    .requiredOption('--out <file>', 'image to write (.png or .jpg)')
    .option('--label <column>', 'label column', 'smiling')
    .option('--split <name>', 'use only rows whose `split` column has this value')
    .option('--count <n>', 'faces (from labels: half neutral, half smiling)', positiveInt, 16)
    .option('--cell <px>', 'side of each picture', positiveInt, 128)
    .option('--model <file>', 'model checkpoint (default: the shipped model)')
    .addOption(handoverOption())
    .action(
      (options: {
        images?: string;
        labels?: string;
        photos?: string;
        out: string;
        label: string;
        split?: string;
        count: number;
        cell: number;
        model?: string;
        handover?: [number, number];
      }) =>
        run(async (reporter) => {
          await withModel(options.model, async (model) => {
            const files = options.photos
              ? (await listPhotos(options.photos, false)).slice(0, options.count)
              : await balancedFaces(options);
            await writeEditGrid(model, files, options.out, {
              cell: options.cell,
              ...(options.handover ? { handover: options.handover } : {}),
            });
            reporter.result({ out: options.out, faces: files }, () => options.out);
          });
        }),
    );
}

/** The first `count` labelled faces, half of them neutral and half smiling. */
async function balancedFaces(options: {
  images?: string;
  labels?: string;
  label: string;
  split?: string;
  count: number;
}): Promise<string[]> {
  if (!options.images || !options.labels) throw new Error('give --images and --labels, or --photos');
  const rows = await readLabelledRows({
    imagesDir: options.images,
    labelsCsv: options.labels,
    labelColumn: options.label,
    ...(options.split ? { split: options.split } : {}),
  });
  const half = Math.ceil(options.count / 2);
  return [
    ...rows.filter((r) => r.label < 0.5).slice(0, half),
    ...rows.filter((r) => r.label >= 0.5).slice(0, options.count - half),
  ].map((r) => r.path);
}

/** `--detector accurate|fast`: the network that finds the faces (see DetectOptions). */
function detectorOption(): Option {
  return new Option(
    '--detector <kind>',
    'face detector: accurate (finds small and partly hidden faces) or fast (detection about twice as quick; can miss them)',
  )
    .choices(faceDetectorKinds)
    .default('accurate');
}

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

/** Runs work with the chosen model (the shipped one by default) and frees it afterwards. */
async function withModel<T>(file: string | undefined, work: (model: ExpressionModel) => Promise<T>): Promise<T> {
  const model = await ExpressionModel.load(file ?? defaultModelPath());
  try {
    return await work(model);
  } finally {
    model.dispose();
  }
}
