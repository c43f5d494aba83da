/**
 * A fine-tune's data: a folder of aligned face crops (PNG) with their labels
 * and their split (train / holdout). `faceset.json` is the record the app
 * reads and changes; `labels.csv` (file,smiling,split) is written beside it
 * so the trainer's data loader reads the set like any other labelled folder.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { fileExists } from '../util/file-exists.js';
import { mixSeed, mulberry } from '../util/random.js';
import { labelWarnings, type CollectedFace, type FaceWarning } from './collect-faces.js';
import { ensureWritableFolder, FinetuneError, writing } from './storage.js';

export type FaceSplit = 'train' | 'holdout';

const frameSchema = z.object({ centerX: z.number(), centerY: z.number(), size: z.number(), angle: z.number() });

const entrySchema = z.object({
  /** crop file name inside the set's `faces/` folder */
  file: z.string(),
  smiling: z.union([z.literal(0), z.literal(1)]),
  split: z.enum(['train', 'holdout']),
  photo: z.string(),
  faceId: z.string(),
  frame: frameSchema,
  /** the classifier's smile probability for the crop as collected */
  classifierSmile: z.number(),
  /** the user changed the classifier's label */
  corrected: z.boolean(),
});
export type FaceSetEntry = z.infer<typeof entrySchema>;

const recordSchema = z.object({
  format: z.literal(1),
  cropSize: z.number().int().positive(),
  faces: z.array(entrySchema),
});

export interface FaceSet {
  dir: string;
  /** what the trainer's data loader reads */
  imagesDir: string;
  labelsCsv: string;
  cropSize: number;
  faces: FaceSetEntry[];
  counts: { train: number; holdout: number; smiling: number; neutral: number };
  /** about the training faces: too few, one expression only */
  warnings: FaceWarning[];
}

/** A change the user makes before training: a corrected label, another split, or the face left out. */
export interface FaceChange {
  file: string;
  smiling?: 0 | 1;
  split?: FaceSplit;
  remove?: boolean;
}

export interface CreateFaceSetOptions {
  /** how many faces to hold out for validation (default: `defaultHoldout`) */
  holdout?: number;
  /** exactly which faces (indices into `faces`) to hold out; overrides `holdout` */
  holdoutIndices?: number[];
  /** seeds the choice of held-out faces */
  seed?: number;
}

const recordFile = 'faceset.json';
const labelsFile = 'labels.csv';
const cropsFolder = 'faces';

/** A few faces for validation: about one in eight, at least one from 5 faces on, at most 6. */
export function defaultHoldout(faces: number): number {
  if (faces < 5) return 0;
  return Math.min(6, Math.max(1, Math.round(faces / 8)));
}

/** Writes collected faces as a new face set in `dir` (which must not hold one). */
export async function createFaceSet(
  dir: string,
  faces: CollectedFace[],
  options: CreateFaceSetOptions = {},
): Promise<FaceSet> {
  if (faces.length === 0) throw new FinetuneError('no faces to make a face set of');
  if (await fileExists(path.join(dir, recordFile))) {
    throw new FinetuneError(`${dir} already holds a face set; choose an empty folder`);
  }
  const cropSize = faces[0]!.cropSize;
  if (faces.some((f) => f.cropSize !== cropSize)) throw new FinetuneError('faces of one set must share a crop size');
  const cropsDir = path.join(dir, cropsFolder);
  await ensureWritableFolder(cropsDir, 'the face set');
  const labels = faces.map((f) => f.label);
  const held = new Set(
    options.holdoutIndices ?? chooseHoldout(labels, options.holdout ?? defaultHoldout(faces.length), options.seed ?? 1),
  );
  const entries: FaceSetEntry[] = [];
  for (const [i, face] of faces.entries()) {
    const file = `face-${String(i + 1).padStart(4, '0')}.png`;
    const png = await sharp(face.crop, { raw: { width: cropSize, height: cropSize, channels: 3 } })
      .png()
      .toBuffer();
    const target = path.join(cropsDir, file);
    await writing(target, 'a face crop', () => writeFileAtomic(target, [png]));
    entries.push({
      file,
      smiling: face.label,
      split: held.has(i) ? 'holdout' : 'train',
      photo: face.photo,
      faceId: face.faceId,
      frame: face.frame,
      classifierSmile: face.smile,
      corrected: false,
    });
  }
  return saveRecord(dir, cropSize, entries);
}

export async function readFaceSet(dir: string): Promise<FaceSet> {
  const file = path.join(dir, recordFile);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new FinetuneError(`${dir} is not a face set (${missing ? `no ${recordFile}` : `${recordFile} is damaged`})`);
  }
  const record = recordSchema.safeParse(json);
  if (!record.success) throw new FinetuneError(`${file} is not a valid face set record`);
  return describe(dir, record.data.cropSize, record.data.faces);
}

/** Applies the user's corrections (labels, splits, faces left out) and rewrites the labels. */
export async function updateFaceSet(dir: string, changes: FaceChange[]): Promise<FaceSet> {
  const set = await readFaceSet(dir);
  const byFile = new Map(set.faces.map((f) => [f.file, { ...f }]));
  for (const change of changes) {
    const entry = byFile.get(change.file);
    if (!entry) throw new FinetuneError(`the face set in ${dir} has no face ${change.file}`);
    if (change.remove) byFile.delete(change.file);
    if (change.smiling !== undefined && change.smiling !== entry.smiling) {
      entry.smiling = change.smiling;
      entry.corrected = !entry.corrected;
    }
    if (change.split) entry.split = change.split;
  }
  // Crops of removed faces stay on disk: the record decides what the set holds, and an undo needs no re-detection.
  return saveRecord(
    dir,
    set.cropSize,
    set.faces.filter((f) => byFile.has(f.file)).map((f) => byFile.get(f.file)!),
  );
}

/**
 * Picks `count` faces to hold out, taking turns between the expressions so
 * validation sees both, and never taking an expression's last training face.
 */
export function chooseHoldout(labels: number[], count: number, seed: number): number[] {
  const groups = [0, 1].map((label) =>
    shuffled(
      labels.flatMap((l, i) => ((l >= 0.5 ? 1 : 0) === label ? [i] : [])),
      seed,
    ),
  );
  groups.sort((a, b) => b.length - a.length);
  const taken = [0, 0];
  const chosen: number[] = [];
  for (let turn = 0; chosen.length < count && turn < 2 * labels.length; turn++) {
    const g = turn % 2;
    const group = groups[g]!;
    if (group.length - taken[g]! <= 1) continue;
    chosen.push(group[taken[g]!]!);
    taken[g]!++;
  }
  return chosen.sort((a, b) => a - b);
}

function shuffled(items: number[], seed: number): number[] {
  const out = [...items];
  const random = mulberry(mixSeed(seed, 0x401d));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function saveRecord(dir: string, cropSize: number, faces: FaceSetEntry[]): Promise<FaceSet> {
  const record = { format: 1 as const, cropSize, faces };
  const csv = ['file,smiling,split', ...faces.map((f) => `${f.file},${f.smiling},${f.split}`)].join('\n') + '\n';
  const labels = path.join(dir, labelsFile);
  const json = path.join(dir, recordFile);
  await writing(labels, 'the face labels', () => writeFileAtomic(labels, [Buffer.from(csv)]));
  await writing(json, 'the face set', () => writeFileAtomic(json, [Buffer.from(JSON.stringify(record, null, 1))]));
  return describe(dir, cropSize, faces);
}

function describe(dir: string, cropSize: number, faces: FaceSetEntry[]): FaceSet {
  const train = faces.filter((f) => f.split === 'train');
  const smiling = faces.filter((f) => f.smiling === 1).length;
  return {
    dir,
    imagesDir: path.join(dir, cropsFolder),
    labelsCsv: path.join(dir, labelsFile),
    cropSize,
    faces,
    counts: { train: train.length, holdout: faces.length - train.length, smiling, neutral: faces.length - smiling },
    warnings: labelWarnings(train.map((f) => f.smiling)),
  };
}
