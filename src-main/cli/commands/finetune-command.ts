import { InvalidArgumentError, type Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runFinetuneBench, type FinetuneBenchReport, type GroupSummary } from '../../core/finetune/bench.js';
import {
  collectFaces,
  personDescriptor,
  samePersonDistance,
  type FaceCollection,
} from '../../core/finetune/collect-faces.js';
import { createFaceSet, updateFaceSet, type FaceChange, type FaceSet } from '../../core/finetune/face-set.js';
import {
  discardFinetune,
  resumeFinetune,
  startFinetune,
  unfinishedFinetunes,
  type FinetuneControl,
  type FinetuneResult,
} from '../../core/finetune/finetune.js';
import type { HoldoutMetrics } from '../../core/finetune/holdout.js';
import { compareModels, ProfileStore, type ProfileRecord } from '../../core/finetune/profiles.js';
import {
  defaultFinetunePreset,
  finetunePresetNames,
  finetunePresets,
  isFinetunePresetName,
  type AdvancedSettings,
  type FinetunePresetName,
} from '../../core/finetune/settings.js';
import { slug } from '../../core/finetune/storage.js';
import { defaultModelPath } from '../../core/model/default-model.js';
import type { TrainedParts } from '../../core/training/gradients.js';
import { fileExists } from '../../core/util/file-exists.js';
import {
  nonNegativeInt,
  nonNegativeNumber,
  positiveInt,
  positiveNumber,
  probability,
  tripleInt,
} from '../arguments.js';
import { formatSeconds, type Reporter } from '../reporter.js';
import type { RunCommand } from '../run-command.js';

const defaultProfilesDir = 'profiles';

/** finetune, finetune-faces, finetune-label, finetune-resume, finetune-bench and profiles: adapting the model to people. */
export function registerFinetuneCommands(program: Command, run: RunCommand): void {
  registerFacesCommands(program, run);
  registerFinetune(program, run);
  registerBench(program, run);
  registerProfiles(program, run);
}

interface PhotoOptions {
  photos?: string;
  files?: string[];
  recursive: boolean;
  person?: string;
  maxDistance: number;
  holdout?: number;
}

function addPhotoOptions(command: Command): Command {
  return command
    .option('--photos <dir>', 'folder of photos to take faces from')
    .option('--files <list>', 'comma-separated photos instead of a folder', (v: string) => v.split(','))
    .option('--recursive', 'also look in the folder’s subfolders', false)
    .option(
      '--person <photo[#face-N]>',
      'keep only the faces of the person in this photo (its largest face by default)',
    )
    .option('--max-distance <d>', 'same-person descriptor distance', probability, samePersonDistance)
    .option('--holdout <n>', 'faces held out for validation (default: about one in eight)', nonNegativeInt);
}

function registerFacesCommands(program: Command, run: RunCommand): void {
  addPhotoOptions(
    program
      .command('finetune-faces')
      .description('find, align and label the faces of photos as a face set to review before fine-tuning'),
  )
    .requiredOption('--out <dir>', 'face set folder to create')
    .action((options: PhotoOptions & { out: string }) =>
      run(async (reporter) => {
        const { set, collection } = await makeFaceSet(options, options.out, reporter);
        reporter.result({ ...set, skipped: collection.skipped }, () => faceSetText(set, collection));
      }),
    );

  program
    .command('finetune-label')
    .description('correct a face set before training: FILE=1 (smiling), =0 (not), =holdout, =train, =drop')
    .argument('<face-set>', 'folder made by finetune-faces')
    .argument('<changes...>', 'e.g. face-0003.png=1 face-0007.png=drop')
    .action((dir: string, changes: string[]) =>
      run(async (reporter) => {
        const set = await updateFaceSet(dir, changes.map(parseChange));
        reporter.result(set, () => faceSetText(set));
      }),
    );
}

function parseChange(text: string): FaceChange {
  const [file, value] = text.split('=');
  if (!file || !value) throw new InvalidArgumentError(`expected FILE=VALUE, got "${text}"`);
  if (value === '1' || value === '0') return { file, smiling: value === '1' ? 1 : 0 };
  if (value === 'holdout' || value === 'train') return { file, split: value };
  if (value === 'drop') return { file, remove: true };
  throw new InvalidArgumentError(`"${value}" is not 1, 0, holdout, train or drop`);
}

async function makeFaceSet(
  options: PhotoOptions,
  out: string,
  reporter: Reporter,
): Promise<{ set: FaceSet; collection: FaceCollection }> {
  const selection = options.files
    ? { files: options.files }
    : options.photos
      ? { folder: options.photos, recursive: options.recursive }
      : undefined;
  if (!selection) throw new InvalidArgumentError('give --photos <dir> or --files <list>');
  const person = options.person ? await personFrom(options.person, options.maxDistance) : undefined;
  const collection = await collectFaces(selection, {
    ...(person ? { person } : {}),
    onProgress: (done, total) => reporter.progress('finding faces', done, total),
  });
  for (const warning of collection.warnings) reporter.note(`warning: ${warning.message}`);
  const set = await createFaceSet(out, collection.faces, {
    ...(options.holdout !== undefined ? { holdout: options.holdout } : {}),
  });
  return { set, collection };
}

async function personFrom(spec: string, maxDistance: number) {
  const [photo, faceId] = spec.split('#') as [string, string | undefined];
  return { descriptor: await personDescriptor(photo, faceId), maxDistance };
}

function faceSetText(set: FaceSet, collection?: FaceCollection): string {
  const lines = set.faces.map(
    (f) =>
      `  ${f.file}  ${f.smiling ? 'smiling' : 'neutral'}${f.corrected ? ' (corrected)' : ''}  ${f.split.padEnd(7)}  ` +
      `classifier ${(100 * f.classifierSmile).toFixed(0)}%  ${path.basename(f.photo)} ${f.faceId}`,
  );
  return [
    `face set ${set.dir}: ${set.faces.length} faces (${set.counts.smiling} smiling, ${set.counts.neutral} not), ` +
      `${set.counts.train} to train on, ${set.counts.holdout} held out`,
    ...lines,
    ...(collection?.skipped ?? []).map((s) => `  skipped ${s.file}: ${s.reason}`),
    ...set.warnings.map((w) => `warning: ${w.message}`),
    `correct labels with: mien finetune-label ${set.dir} FILE=1|0|holdout|train|drop`,
  ].join('\n');
}

interface FinetuneOptions extends PhotoOptions {
  faces?: string;
  from?: string;
  out: string;
  profiles: string;
  work?: string;
  preset: FinetunePresetName;
  steps?: [number, number, number];
  lr?: number;
  mu?: number;
  batch?: number;
  seed?: number;
  checkpointEvery?: number;
  tune?: TrainedParts;
  preview?: string;
}

function registerFinetune(program: Command, run: RunCommand): void {
  addPhotoOptions(
    program
      .command('finetune')
      .description('fine-tune a model on the faces of your photos into a new profile (Ctrl-C pauses)'),
  )
    .option('--faces <dir>', 'a reviewed face set (from finetune-faces) instead of --photos')
    .option('--from <checkpoint>', 'model to start from (default: the active profile, else the shipped model)')
    .requiredOption('--out <name>', 'name of the new profile')
    .option('--profiles <dir>', 'profiles folder', defaultProfilesDir)
    .option('--work <dir>', 'folder for the run’s checkpoints (default: inside the profiles folder)')
    .option('--preset <name>', presetHelp(), presetArg, defaultFinetunePreset)
    .option('--steps <a,b,c>', 'advanced: steps of the tuning, polish and last phase', tripleInt)
    .option('--lr <rate>', 'advanced: learning rate', positiveNumber)
    .option('--mu <weight>', 'advanced: adversarial weight (default: the base’s)', nonNegativeNumber)
    .option('--batch <n>', 'advanced: faces per step', positiveInt)
    .option('--seed <n>', 'advanced: random seed', nonNegativeInt)
    .option('--checkpoint-every <n>', 'advanced: steps between checkpoints', positiveInt)
    .option('--tune <parts>', 'advanced: what learns: decoder (the default) or all', trainedArg)
    .option('--preview <file>', 'write each preview grid (held-out faces: original | smile off | smile on) here')
    .action((options: FinetuneOptions) =>
      run(async (reporter) => {
        const profilesDir = options.profiles;
        const faceSet = options.faces ?? (await facesFromPhotos(options, profilesDir, reporter));
        const from = options.from ?? (await activeModel(profilesDir));
        reporter.note(`fine-tuning ${from} into profile "${options.out}" (${options.preset})`);
        const result = await withPause(reporter, options.preview, (control) =>
          startFinetune(
            {
              name: options.out,
              faceSet,
              from,
              profilesDir,
              ...(options.work ? { workDir: options.work } : {}),
              preset: options.preset,
              advanced: advancedOf(options),
            },
            control,
          ),
        );
        reportFinetune(reporter, result);
      }),
    );

  program
    .command('finetune-resume')
    .description('continue a paused or interrupted fine-tune')
    .argument('<work-dir>', 'the folder `finetune` named when it paused')
    .option('--preview <file>', 'write each preview grid here')
    .action((workDir: string, options: { preview?: string }) =>
      run(async (reporter) => {
        reportFinetune(reporter, await withPause(reporter, options.preview, (c) => resumeFinetune(workDir, c)));
      }),
    );

  program
    .command('finetune-discard')
    .description('delete a paused fine-tune’s checkpoints (cancel it for good)')
    .argument('<work-dir>', 'the folder `finetune` named when it paused')
    .action((workDir: string) =>
      run(async (reporter) => {
        await discardFinetune(workDir);
        reporter.result({ discarded: workDir }, () => `discarded ${workDir}`);
      }),
    );
}

function presetHelp(): string {
  return `quality/time: ${finetunePresetNames.map((n) => `${n} (${finetunePresets[n].description})`).join(', ')}`;
}

function trainedArg(value: string): TrainedParts {
  if (value !== 'decoder' && value !== 'all') throw new InvalidArgumentError('decoder or all');
  return value;
}

function presetArg(value: string): FinetunePresetName {
  if (!isFinetunePresetName(value)) throw new InvalidArgumentError(`expected one of ${finetunePresetNames.join(', ')}`);
  return value;
}

function advancedOf(options: FinetuneOptions): AdvancedSettings {
  return {
    ...(options.steps ? { steps: options.steps } : {}),
    ...(options.lr !== undefined ? { learningRate: options.lr } : {}),
    ...(options.mu !== undefined ? { mu: options.mu } : {}),
    ...(options.batch !== undefined ? { batchSize: options.batch } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.checkpointEvery !== undefined ? { checkpointEvery: options.checkpointEvery } : {}),
    ...(options.tune ? { trained: options.tune } : {}),
  };
}

/** Photos become a face set kept beside the profiles (`.faces/<name>`), so the profile can be compared on it later. */
async function facesFromPhotos(options: FinetuneOptions, profilesDir: string, reporter: Reporter): Promise<string> {
  const dir = path.join(profilesDir, '.faces', slug(options.out));
  // Both checked before minutes of face detection that would otherwise end in these errors.
  if (await new ProfileStore(profilesDir).has(slug(options.out))) {
    throw new InvalidArgumentError(
      `a profile "${slug(options.out)}" already exists in ${profilesDir}; choose another name`,
    );
  }
  if (await fileExists(path.join(dir, 'faceset.json'))) {
    throw new InvalidArgumentError(
      `the faces of an earlier "${options.out}" are in ${dir}: fine-tune on them with --faces ${dir}, or delete that folder`,
    );
  }
  const { set, collection } = await makeFaceSet(options, dir, reporter);
  reporter.note(
    `${set.faces.length} faces from ${collection.photos} photos (${set.counts.smiling} smiling, ${set.counts.neutral} not), ` +
      `${set.counts.holdout} held out; ${collection.skipped.length} photos without a usable face`,
  );
  return set.dir;
}

async function activeModel(profilesDir: string): Promise<string> {
  return (await new ProfileStore(profilesDir).activeFile()) ?? defaultModelPath();
}

/** Runs a fine-tune with Ctrl-C as pause, reporting progress, previews and evaluation. */
async function withPause(
  reporter: Reporter,
  previewFile: string | undefined,
  work: (control: FinetuneControl) => Promise<FinetuneResult>,
): Promise<FinetuneResult> {
  const controller = new AbortController();
  const pause = () => {
    reporter.note('pausing after this step; saving a checkpoint...');
    controller.abort();
  };
  process.once('SIGINT', pause);
  process.once('SIGTERM', pause);
  try {
    return await work({
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'data') reporter.progress('reading faces', event.loaded, event.total);
        if (event.type === 'ready' && event.resumedFrom) reporter.note(`resuming at step ${event.resumedFrom}`);
        if (event.type === 'progress') {
          reporter.progress('fine-tuning', event.stepsDone, event.totalSteps, {
            phase: event.phase,
            mse: event.reconstruction.toFixed(4),
            eta: formatSeconds(event.etaSeconds),
          });
        }
        if (event.type === 'evaluating') reporter.progress(`evaluating ${event.model}`, event.done, event.total);
        if (event.type === 'note') reporter.note(event.message);
        if (event.type === 'preview') {
          if (previewFile) void writeFile(previewFile, event.png).catch(() => undefined);
          const psnr = event.validationPsnr.toFixed(2);
          reporter.note(
            `preview at step ${event.step} (held-out reconstruction ${psnr} dB): ${previewFile ?? event.file}`,
          );
        }
      },
    });
  } finally {
    process.off('SIGINT', pause);
    process.off('SIGTERM', pause);
  }
}

function reportFinetune(reporter: Reporter, result: FinetuneResult): void {
  reporter.result(result, () => {
    if (result.status === 'paused') {
      return `paused at step ${result.stepsDone}/${result.totalSteps}; resume with: mien finetune-resume ${result.workDir}`;
    }
    const profile = result.profile!;
    return [
      `profile "${profile.name}" (${profile.id}): ${profile.file}`,
      `trained ${result.stepsDone} steps in ${formatSeconds(result.secondsTraining)} on ${profile.faces.train} faces`,
      ...(profile.editScale === undefined
        ? []
        : [`edits scaled by ${profile.editScale.toFixed(2)} to the base's strength (measured on the training faces)`]),
      ...metricsTable(profile.metrics),
      `activate with: mien profiles activate ${profile.id}`,
    ].join('\n');
  });
}

function metricsTable(metrics: ProfileRecord['metrics']): string[] {
  const { base, tuned } = metrics;
  if (!tuned) return ['no faces were held out: no figures'];
  const row = (label: string, pick: (m: Metrics) => number | null, digits: number) =>
    `  ${label.padEnd(28)} ${cell(base && pick(base), digits)} ${cell(pick(tuned), digits)}`;
  return [
    `on ${tuned.faces} held-out faces:          base    tuned`,
    row('expression success', (m) => m.expressionSuccess, 2),
    row('identity distance (median)', (m) => m.identityDistance, 3),
    row('identity kept (< 0.45)', (m) => m.identityKeptShare, 2),
    row('reconstruction PSNR (dB)', (m) => m.psnr, 2),
    row('mouth kept sharp', (m) => m.mouthSharpnessKept ?? null, 2),
  ];
}

type Metrics = Omit<HoldoutMetrics, 'identityDistance' | 'psnr' | 'mouthSharpnessKept'> & {
  identityDistance: number | null;
  psnr: number | null;
  mouthSharpnessKept?: number | undefined;
};

function cell(value: number | null | undefined, digits: number): string {
  return (typeof value === 'number' ? value.toFixed(digits) : '-').padStart(7);
}

function registerBench(program: Command, run: RunCommand): void {
  program
    .command('finetune-bench')
    .description('fine-tune on part of each CelebA person’s faces and compare base and tuned on the rest')
    .requiredOption('--faces <dir>', 'folder with images/ and labels.csv (file, smiling, identity, split)')
    .requiredOption('--work <dir>', 'scratch folder for face sets, runs and profiles')
    .option('--from <checkpoint>', 'base model (default: the shipped model)')
    .option('--people <n>', 'benchmark at most this many people', positiveInt)
    .option('--unseen', 'only people the base’s training data does not hold (CelebA split "test")', false)
    .option('--min-faces <n>', 'people need this many faces', positiveInt, 6)
    .option('--holdout <n>', 'faces of each person held out', positiveInt, 2)
    .option('--preset <name>', presetHelp(), presetArg, defaultFinetunePreset)
    .option('--steps <a,b,c>', 'advanced: steps of the three phases', tripleInt)
    .option('--lr <rate>', 'advanced: learning rate', positiveNumber)
    .option('--tune <parts>', 'advanced: what learns: decoder (the default) or all', trainedArg)
    .action(
      (options: {
        tune?: TrainedParts;
        faces: string;
        work: string;
        from?: string;
        people?: number;
        unseen: boolean;
        minFaces: number;
        holdout: number;
        preset: FinetunePresetName;
        steps?: [number, number, number];
        lr?: number;
      }) =>
        run(async (reporter) => {
          const report = await runFinetuneBench({
            facesDir: options.faces,
            workDir: options.work,
            from: options.from ?? defaultModelPath(),
            minFaces: options.minFaces,
            unseenOnly: options.unseen,
            holdout: options.holdout,
            preset: options.preset,
            ...(options.people ? { limit: options.people } : {}),
            advanced: {
              ...(options.steps ? { steps: options.steps } : {}),
              ...(options.lr !== undefined ? { learningRate: options.lr } : {}),
              ...(options.tune ? { trained: options.tune } : {}),
            },
            onPerson: (done, total, person) =>
              reporter.progress('people', done, total, {
                last: person.identity,
                identity: `${person.base.identityDistance.toFixed(3)}->${person.tuned.identityDistance.toFixed(3)}`,
                seconds: person.seconds.toFixed(0),
              }),
            onEvent: (identity, event) => {
              if (event.type === 'progress') {
                reporter.progress(`person ${identity}`, event.stepsDone, event.totalSteps, {
                  eta: formatSeconds(event.etaSeconds),
                });
              }
            },
          });
          reporter.result(report, () => benchText(report));
        }),
    );
}

function benchText(report: FinetuneBenchReport): string {
  const group = (title: string, g: GroupSummary | undefined) =>
    g
      ? [
          `${title}: ${g.people} people, ${g.faces} held-out faces          base    tuned`,
          `  expression success                     ${cell(g.base.expressionSuccess, 2)} ${cell(g.tuned.expressionSuccess, 2)}`,
          `  identity distance (median per person)  ${cell(g.base.identityDistance, 3)} ${cell(g.tuned.identityDistance, 3)}`,
          `  identity kept (< 0.45)                 ${cell(g.base.identityKeptShare, 2)} ${cell(g.tuned.identityKeptShare, 2)}`,
          `  reconstruction PSNR (dB)               ${cell(g.base.psnr, 2)} ${cell(g.tuned.psnr, 2)}`,
          `  identity distance lower after fine-tuning for ${g.identityImproved} of ${g.people} people`,
        ]
      : [];
  return [
    ...report.people.map(
      (p) =>
        `person ${p.identity}${p.seenByBase ? ' (in the base’s training data)' : ''}: ${p.trainFaces} faces trained, ` +
        `${p.holdoutFaces} held out, ${p.seconds.toFixed(0)} s; identity ${p.base.identityDistance.toFixed(3)} -> ` +
        `${p.tuned.identityDistance.toFixed(3)}, expression ${p.base.expressionSuccess.toFixed(2)} -> ${p.tuned.expressionSuccess.toFixed(2)}`,
    ),
    '',
    ...group('all', report.all),
    ...group('people the base never saw', report.unseen),
    `time per fine-tune (faces, training, evaluation): ${formatSeconds(report.secondsPerFinetune)}`,
  ].join('\n');
}

function registerProfiles(program: Command, run: RunCommand): void {
  const profiles = program.command('profiles').description('fine-tuned profiles: list, activate, roll back, export...');
  const store = (options: { profiles: string }) => new ProfileStore(options.profiles);
  const withDir = (command: Command) => command.option('--profiles <dir>', 'profiles folder', defaultProfilesDir);

  withDir(profiles.command('list').description('the profiles and their figures beside their base’s')).action(
    (options: { profiles: string }) =>
      run(async (reporter) => {
        const all = await store(options).list();
        const active = await store(options).active();
        const unfinished = await unfinishedFinetunes(options.profiles);
        reporter.result({ active, profiles: all, unfinished }, () =>
          [
            `active: ${active ? ('profile' in active ? active.profile : active.file) : 'the shipped model'}`,
            ...unfinished.map(
              (u) => `paused: "${u.name}" at step ${u.stepsDone}/${u.totalSteps} (mien finetune-resume ${u.workDir})`,
            ),
            ...all.flatMap((p) => [
              `${p.id}  "${p.name}"  from ${p.from.name}, ${p.faces.train} faces`,
              ...metricsTable(p.metrics),
            ]),
          ].join('\n'),
        );
      }),
  );

  withDir(profiles.command('activate').description('edit photos with a profile (or --file: any model)'))
    .argument('[id]', 'profile id')
    .option('--file <model>', 'a model file instead, e.g. the shipped one')
    .action((id: string | undefined, options: { profiles: string; file?: string }) =>
      run(async (reporter) => {
        const target = options.file ? { file: path.resolve(options.file) } : id ? { profile: id } : undefined;
        if (!target) throw new InvalidArgumentError('give a profile id or --file');
        const active = await store(options).activate(target);
        reporter.result({ active }, () => `active: ${'profile' in active ? active.profile : active.file}`);
      }),
    );

  withDir(profiles.command('rollback').description('activate the model the active profile was tuned from')).action(
    (options: { profiles: string }) =>
      run(async (reporter) => {
        const active = await store(options).rollBack();
        reporter.result({ active }, () => `active: ${'profile' in active ? active.profile : active.file}`);
      }),
  );

  withDir(profiles.command('export').description('write a profile as one file (weights, record, figures)'))
    .argument('<id>')
    .argument('<file>')
    .action((id: string, file: string, options: { profiles: string }) =>
      run(async (reporter) => {
        const written = await store(options).export(id, file);
        reporter.result({ file: written }, () => `exported ${id} to ${written}`);
      }),
    );

  withDir(profiles.command('import').description('add an exported profile'))
    .argument('<file>')
    .option('--name <text>', 'name it differently')
    .action((file: string, options: { profiles: string; name?: string }) =>
      run(async (reporter) => {
        const profile = await store(options).import(file, options.name);
        reporter.result(profile, () => `imported "${profile.name}" as ${profile.id}`);
      }),
    );

  withDir(profiles.command('remove').description('delete a profile (not the active one)'))
    .argument('<id>')
    .action((id: string, options: { profiles: string }) =>
      run(async (reporter) => {
        await store(options).remove(id);
        reporter.result({ removed: id }, () => `removed ${id}`);
      }),
    );

  withDir(profiles.command('compare').description('evaluate models on the held-out faces of one face set'))
    .argument('<models...>', 'profile ids or model files')
    .requiredOption('--faces <dir>', 'a face set with held-out faces')
    .action((models: string[], options: { profiles: string; faces: string }) =>
      run(async (reporter) => {
        const files = await Promise.all(
          models.map(async (m) => ((await store(options).has(m)) ? store(options).fileOf(m) : m)),
        );
        const results = await compareModels(files, options.faces);
        reporter.result(results, () =>
          results
            .map(({ file, metrics: m }) =>
              m
                ? `${file}: expression ${m.expressionSuccess.toFixed(2)}, identity ${m.identityDistance.toFixed(3)}, ` +
                  `kept ${m.identityKeptShare.toFixed(2)}, PSNR ${m.psnr.toFixed(2)} dB`
                : `${file}: no figures`,
            )
            .join('\n'),
        );
      }),
    );
}
