/**
 * Fine-tuned models ("profiles") in a folder the app's model library lists:
 * `<id>.mien` (weights, with `meta.name` and numeric `meta.metrics`) and
 * `<id>.json` (`name` plus the fine-tune's record: its base, faces, settings,
 * and the base's and the tuned model's figures on the same held-out faces).
 * `active.json` says which model edits photos, so a profile can be rolled back.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { readCheckpoint } from '../model/checkpoint.js';
import { ExpressionModel } from '../model/expression-model.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { fileExists } from '../util/file-exists.js';
import { readFaceSet } from './face-set.js';
import { evaluateHoldout, type HoldoutMetrics } from './holdout.js';
import { ensureWritableFolder, FinetuneError, slug, writing } from './storage.js';

const metricsSchema = z.object({
  faces: z.number(),
  expressionSuccess: z.number(),
  smileOnSuccess: z.number(),
  smileOnCount: z.number(),
  smileOffSuccess: z.number(),
  smileOffCount: z.number(),
  identityDistance: z.number().nullable(),
  identityKeptShare: z.number(),
  psnr: z.number().nullable(),
  ssim: z.number(),
  /** absent from profiles measured before it was */
  mouthSharpnessKept: z.number().optional(),
});

export const profileRecordSchema = z.object({
  format: z.literal(1),
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  /** the model it was tuned from: never changed by the fine-tune */
  from: z.object({ file: z.string(), sha256: z.string(), name: z.string(), profileId: z.string().optional() }),
  faces: z.object({
    faceSet: z.string(),
    photos: z.number(),
    train: z.number(),
    holdout: z.number(),
    smiling: z.number(),
    neutral: z.number(),
  }),
  preset: z.string(),
  settings: z.object({
    steps: z.tuple([z.number(), z.number(), z.number()]),
    learningRate: z.number(),
    mu: z.number(),
    batchSize: z.number(),
    seed: z.number(),
    /** what learned (absent in records from before the choice existed: the whole network) */
    trained: z.enum(['all', 'decoder']).optional(),
  }),
  secondsTraining: z.number(),
  /** the profile's edit scale, matching its edits' strength to the base's (absent: 1, not calibrated) */
  editScale: z.number().optional(),
  /** figures on the held-out faces; absent when none were held out */
  metrics: z.object({ base: metricsSchema.optional(), tuned: metricsSchema.optional() }),
  /** held-out reconstruction PSNR at each preview (step 0 is the base) */
  validation: z.array(z.object({ step: z.number(), psnr: z.number() })).optional(),
});
export type ProfileRecord = z.infer<typeof profileRecordSchema>;

export interface Profile extends ProfileRecord {
  file: string;
}

/** The model that edits photos: a profile of the folder, or any model file (the shipped one, say). */
export type ActiveModel = { profile: string } | { file: string };
const activeSchema = z.union([z.object({ profile: z.string() }), z.object({ file: z.string() })]);

const activeFile = 'active.json';

export class ProfileStore {
  constructor(readonly dir: string) {}

  fileOf(id: string): string {
    return path.join(this.dir, `${id}.mien`);
  }

  async list(): Promise<Profile[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const profiles: Profile[] = [];
    const ids = names.filter((n) => n.endsWith('.mien')).map((n) => path.basename(n, '.mien'));
    for (const id of ids.sort()) {
      const profile = await this.get(id).catch(() => undefined);
      if (profile) profiles.push(profile);
    }
    return profiles;
  }

  async get(id: string): Promise<Profile> {
    const file = this.fileOf(id);
    if (!(await fileExists(file))) throw new FinetuneError(`no profile "${id}" in ${this.dir}`);
    const record = profileRecordSchema.safeParse(await readJson(this.recordFile(id)));
    if (!record.success) throw new FinetuneError(`${this.recordFile(id)} is missing or damaged`);
    return { ...record.data, file };
  }

  /** Whether an id is taken (by a profile or any other model file of the folder). */
  async has(id: string): Promise<boolean> {
    return (await fileExists(this.fileOf(id))) || (await fileExists(this.recordFile(id)));
  }

  /** Saves a fine-tuned model as a new profile; an existing one is never replaced. */
  async write(
    model: ExpressionModel,
    record: ProfileRecord,
    extraMeta: Record<string, unknown> = {},
  ): Promise<Profile> {
    await ensureWritableFolder(this.dir, 'the profile');
    if (await this.has(record.id)) {
      throw new FinetuneError(`a profile "${record.id}" already exists in ${this.dir}; choose another name`);
    }
    const file = this.fileOf(record.id);
    const json = this.recordFile(record.id);
    // The record first: the library lists `.mien` files, so a crash in between leaves nothing half-listed.
    await writing(json, 'the profile', () => writeFileAtomic(json, [Buffer.from(JSON.stringify(record, null, 1))]));
    const meta = { ...extraMeta, name: record.name, metrics: flatMetrics(record), finetune: record };
    try {
      // float16 like the shipped model: half the size, and edits that differ by far less than a grey level.
      await writing(file, 'the profile', () => model.save(file, meta, true));
    } catch (error) {
      await rm(json, { force: true });
      throw error;
    }
    return { ...record, file };
  }

  async active(): Promise<ActiveModel | undefined> {
    const parsed = activeSchema.safeParse(await readJson(path.join(this.dir, activeFile)));
    return parsed.success ? parsed.data : undefined;
  }

  /** The file of the active model, if one was chosen and still exists. */
  async activeFile(): Promise<string | undefined> {
    const active = await this.active();
    const file = active && ('profile' in active ? this.fileOf(active.profile) : active.file);
    return file && (await fileExists(file)) ? file : undefined;
  }

  async activate(model: ActiveModel): Promise<ActiveModel> {
    if ('profile' in model) await this.get(model.profile);
    else if (!(await fileExists(model.file))) throw new FinetuneError(`${model.file}: file not found`);
    const target = path.join(this.dir, activeFile);
    await ensureWritableFolder(this.dir, 'the active model choice');
    await writing(target, 'the active model choice', () =>
      writeFileAtomic(target, [Buffer.from(JSON.stringify(model))]),
    );
    return model;
  }

  /** Makes the active profile's base the active model again (the model it was tuned from). */
  async rollBack(): Promise<ActiveModel> {
    const active = await this.active();
    if (!active || !('profile' in active))
      throw new FinetuneError('no fine-tuned profile is active: nothing to roll back');
    return this.activate(await this.baseOf(active.profile));
  }

  /** What a profile was tuned from, as something `activate` takes. */
  async baseOf(id: string): Promise<ActiveModel> {
    const { from } = await this.get(id);
    if (from.profileId && (await fileExists(this.fileOf(from.profileId)))) return { profile: from.profileId };
    if (!(await fileExists(from.file))) {
      throw new FinetuneError(`the base of "${id}" (${from.file}) is gone; activate another model instead`);
    }
    return { file: from.file };
  }

  /** One file holding weights and record (the record rides in the model's metadata). */
  async export(id: string, file: string): Promise<string> {
    const profile = await this.get(id);
    if (path.resolve(file) === path.resolve(profile.file)) throw new FinetuneError(`${file} is the profile itself`);
    const bytes = await readFile(profile.file);
    await writing(file, 'the exported profile', () => writeFileAtomic(file, [bytes]));
    return file;
  }

  /** Adds an exported profile (checked: magic, header, weights' checksum) under a free id. */
  async import(file: string, name?: string): Promise<Profile> {
    const checkpoint = await readCheckpoint(file);
    const embedded = profileRecordSchema.safeParse(checkpoint.header.meta['finetune']);
    if (!embedded.success) throw new FinetuneError(`${file} is not an exported fine-tune profile`);
    const record = { ...embedded.data, name: name ?? embedded.data.name };
    record.id = await this.freeId(record.name);
    const model = ExpressionModel.fromCheckpoint(file, checkpoint);
    try {
      return await this.write(model, record, withoutKeys(checkpoint.header.meta, ['name', 'metrics', 'finetune']));
    } finally {
      model.dispose();
    }
  }

  async remove(id: string): Promise<void> {
    await this.get(id);
    const active = await this.active();
    if (active && 'profile' in active && active.profile === id) {
      throw new FinetuneError(`"${id}" is the active profile; activate another model (or roll back) first`);
    }
    await rm(this.fileOf(id));
    await rm(this.recordFile(id), { force: true });
    await rm(profilePreviewFile(this.fileOf(id)), { force: true });
  }

  /** An id from a name that no file of the folder uses yet ("anna", "anna-2", ...). */
  async freeId(name: string): Promise<string> {
    const base = slug(name);
    for (let n = 1; ; n++) {
      const id = n === 1 ? base : `${base}-${n}`;
      if (!(await this.has(id))) return id;
    }
  }

  private recordFile(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }
}

/** The last preview grid of a fine-tune, kept beside its profile's model file. */
export function profilePreviewFile(profileFile: string): string {
  return profileFile.replace(/\.mien$/, '') + '.preview.png';
}

/**
 * The numbers the model library shows beside a model: the tuned model's
 * figures, and the base's on the same faces with a `base` prefix.
 */
export function flatMetrics(record: ProfileRecord): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (prefix: string, metrics: HoldoutMetrics | z.infer<typeof metricsSchema> | undefined) => {
    if (!metrics) return;
    const keys = [
      'expressionSuccess',
      'identityDistance',
      'identityKeptShare',
      'psnr',
      'ssim',
      'mouthSharpnessKept',
    ] as const;
    for (const key of keys) {
      const value = metrics[key];
      if (typeof value === 'number' && Number.isFinite(value)) {
        out[prefix ? `${prefix}${key[0]!.toUpperCase()}${key.slice(1)}` : key] = value;
      }
    }
  };
  add('', record.metrics.tuned);
  add('base', record.metrics.base);
  if (record.metrics.tuned) out['holdoutFaces'] = record.metrics.tuned.faces;
  return out;
}

/** Evaluates models on the held-out faces of one face set: figures that compare, unlike those of two profiles. */
export async function compareModels(
  files: string[],
  faceSetDir: string,
): Promise<{ file: string; metrics: HoldoutMetrics | undefined }[]> {
  const set = await readFaceSet(faceSetDir);
  if (set.counts.holdout === 0)
    throw new FinetuneError(`the face set in ${faceSetDir} holds no faces out to compare on`);
  const results = [];
  for (const file of files) {
    const model = await ExpressionModel.load(file);
    try {
      results.push({ file, metrics: await evaluateHoldout(model, set) });
    } finally {
      model.dispose();
    }
  }
  return results;
}

/** SHA-256 of a file, streamed (models are tens of megabytes). */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A JSON file's value, or undefined when it is missing or not JSON. */
async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function withoutKeys(meta: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(meta).filter(([key]) => !keys.includes(key)));
}
