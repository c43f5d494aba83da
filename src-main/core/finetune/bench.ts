/**
 * The fine-tune benchmark: for each person with enough labelled faces in a
 * CelebA-style folder (an `identity` column), fine-tune on some of that
 * person's faces and compare base and tuned model on the others. One
 * fine-tune per person, as the product does it (one user, one person's
 * photos); pooling everyone into one run would measure adaptation to a crowd.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { extractCrop } from '../faces/alignment.js';
import { faceFrame } from '../evaluation/evaluate.js';
import { judgeFace } from '../faces/detect-faces.js';
import { readRgbImage } from '../images/read-image.js';
import { defaultCropSize, type CollectedFace } from './collect-faces.js';
import { chooseHoldout, createFaceSet } from './face-set.js';
import { startFinetune, type FinetuneEvent } from './finetune.js';
import type { HoldoutMetrics } from './holdout.js';
import type { AdvancedSettings, FinetunePresetName } from './settings.js';

export interface FinetuneBenchOptions {
  /** folder with `images/` and `labels.csv` (columns file, smiling, identity, split) */
  facesDir: string;
  /** the base checkpoint every fine-tune starts from */
  from: string;
  /** scratch folder for face sets, runs and profiles */
  workDir: string;
  /** people need at least this many faces (default 6) */
  minFaces?: number;
  /** faces of each person kept for evaluation (default 2) */
  holdout?: number;
  /** benchmark at most this many people (default all) */
  limit?: number;
  /** only people the base was not trained on (no face in split "train"): the case of a real user */
  unseenOnly?: boolean;
  preset?: FinetunePresetName;
  advanced?: AdvancedSettings;
  onPerson?: (done: number, total: number, result: PersonResult) => void;
  onEvent?: (identity: string, event: FinetuneEvent) => void;
}

export interface PersonResult {
  identity: string;
  /** whether the base's training data held this person (CelebA split "train") */
  seenByBase: boolean;
  trainFaces: number;
  holdoutFaces: number;
  seconds: number;
  base: HoldoutMetrics;
  tuned: HoldoutMetrics;
}

export interface GroupSummary {
  people: number;
  faces: number;
  base: Summary;
  tuned: Summary;
  /** people whose median identity distance went down */
  identityImproved: number;
}

export interface Summary {
  expressionSuccess: number;
  identityDistance: number;
  identityKeptShare: number;
  psnr: number;
}

export interface FinetuneBenchReport {
  people: PersonResult[];
  all: GroupSummary;
  /** people the base was not trained on: the situation of a real user */
  unseen: GroupSummary | undefined;
  secondsPerFinetune: number;
}

interface Row {
  file: string;
  smiling: number;
  identity: string;
  split: string;
}

export async function runFinetuneBench(options: FinetuneBenchOptions): Promise<FinetuneBenchReport> {
  const people = peopleOf(await readRows(path.join(options.facesDir, 'labels.csv')), options.minFaces ?? 6).filter(
    (rows) => !options.unseenOnly || !seenByBase(rows),
  );
  const chosen = people.slice(0, options.limit ?? people.length);
  const results: PersonResult[] = [];
  for (const [i, rows] of chosen.entries()) {
    const result = await benchPerson(rows, options);
    results.push(result);
    options.onPerson?.(i + 1, chosen.length, result);
  }
  const unseen = results.filter((r) => !r.seenByBase);
  return {
    people: results,
    all: summarise(results),
    unseen: unseen.length > 0 ? summarise(unseen) : undefined,
    secondsPerFinetune: results.reduce((s, r) => s + r.seconds, 0) / Math.max(1, results.length),
  };
}

/** One person: a face set of their crops (labels from the CSV, as a user would correct them), a fine-tune, the figures. */
async function benchPerson(rows: Row[], options: FinetuneBenchOptions): Promise<PersonResult> {
  const identity = rows[0]!.identity;
  const dir = path.join(options.workDir, `person-${identity}`);
  const faces: CollectedFace[] = [];
  // One at a time: the face networks share one backend thread anyway.
  for (const row of rows) faces.push(await faceOf(path.join(options.facesDir, 'images', row.file), row));
  const held = chooseHoldout(
    faces.map((f) => f.label),
    options.holdout ?? 2,
    Number(identity),
  );
  const set = await createFaceSet(path.join(dir, 'faces'), faces, { holdoutIndices: held });
  const started = performance.now();
  const result = await startFinetune(
    {
      name: `person-${identity}`,
      faceSet: set.dir,
      from: options.from,
      profilesDir: path.join(options.workDir, 'profiles'),
      workDir: path.join(dir, 'finetune'),
      ...(options.preset ? { preset: options.preset } : {}),
      ...(options.advanced ? { advanced: options.advanced } : {}),
    },
    { ...(options.onEvent ? { onEvent: (event) => options.onEvent!(identity, event) } : {}) },
  );
  const { base, tuned } = result.profile?.metrics ?? {};
  if (!base || !tuned) throw new Error(`person ${identity}: the fine-tune produced no figures`);
  return {
    identity,
    seenByBase: seenByBase(rows),
    trainFaces: set.counts.train,
    holdoutFaces: set.counts.holdout,
    seconds: (performance.now() - started) / 1000,
    base: base as HoldoutMetrics,
    tuned: tuned as HoldoutMetrics,
  };
}

/** A CelebA crop as the collector would make it: aligned by the detector (or CelebA's own framing), labelled by the CSV. */
async function faceOf(file: string, row: Row): Promise<CollectedFace> {
  const image = await readRgbImage(file);
  const frame = await faceFrame(image);
  const judged = await judgeFace(image, frame);
  return {
    photo: file,
    faceId: 'face-1',
    frame,
    crop: extractCrop(image, frame, defaultCropSize),
    cropSize: defaultCropSize,
    smile: judged.smile,
    label: row.smiling >= 0.5 ? 1 : 0,
    descriptor: Array.from(judged.descriptor),
  };
}

function seenByBase(rows: Row[]): boolean {
  return rows.some((r) => r.split === 'train');
}

/** People with at least `minFaces` faces, most faces first (then by id, so runs repeat). */
function peopleOf(rows: Row[], minFaces: number): Row[][] {
  const byIdentity = new Map<string, Row[]>();
  for (const row of rows) byIdentity.set(row.identity, [...(byIdentity.get(row.identity) ?? []), row]);
  return [...byIdentity.values()]
    .filter((group) => group.length >= minFaces)
    .sort((a, b) => b.length - a.length || Number(a[0]!.identity) - Number(b[0]!.identity));
}

async function readRows(csv: string): Promise<Row[]> {
  const [header = '', ...lines] = (await readFile(csv, 'utf8')).trim().split(/\r?\n/);
  const columns = header.split(',');
  const at = (name: string) => {
    const index = columns.indexOf(name);
    if (index < 0) throw new Error(`${csv} has no "${name}" column`);
    return index;
  };
  const [file, smiling, identity, split] = [at('file'), at('smiling'), at('identity'), at('split')];
  return lines.map((line) => {
    const cells = line.split(',');
    return { file: cells[file]!, smiling: Number(cells[smiling]), identity: cells[identity]!, split: cells[split]! };
  });
}

/** Figures over every held-out face of a group (each person's figures weighted by their faces). */
function summarise(results: PersonResult[]): GroupSummary {
  const faces = results.reduce((s, r) => s + r.holdoutFaces, 0);
  const weighted = (pick: (m: HoldoutMetrics) => number, which: 'base' | 'tuned') =>
    results.reduce((s, r) => s + pick(r[which]) * r[which].faces, 0) / Math.max(1, faces);
  const summary = (which: 'base' | 'tuned'): Summary => ({
    expressionSuccess: weighted((m) => m.expressionSuccess, which),
    identityDistance: weighted((m) => m.identityDistance, which),
    identityKeptShare: weighted((m) => m.identityKeptShare, which),
    psnr: weighted((m) => m.psnr, which),
  });
  return {
    people: results.length,
    faces,
    base: summary('base'),
    tuned: summary('tuned'),
    identityImproved: results.filter((r) => r.tuned.identityDistance < r.base.identityDistance).length,
  };
}
