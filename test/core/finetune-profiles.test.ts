import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import type { HoldoutMetrics } from '../../src-main/core/finetune/holdout.js';
import { flatMetrics, ProfileStore, type ProfileRecord } from '../../src-main/core/finetune/profiles.js';
import { readCheckpoint } from '../../src-main/core/model/checkpoint.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { untrainedBase } from '../fixtures/finetune.js';

let root: string;
let base: string;

const metrics = (identityDistance: number, mouthSharpnessKept = 0.9): HoldoutMetrics => ({
  faces: 4,
  expressionSuccess: 0.75,
  smileOnSuccess: 1,
  smileOnCount: 2,
  smileOffSuccess: 0.5,
  smileOffCount: 2,
  identityDistance,
  identityKeptShare: 1,
  psnr: 24.5,
  ssim: 0.8,
  mouthSharpnessKept,
});

function record(id: string, from: string, profileId?: string): ProfileRecord {
  return {
    format: 1,
    id,
    name: `Profile ${id}`,
    createdAt: new Date().toISOString(),
    from: { file: from, sha256: '0'.repeat(64), name: 'base', ...(profileId ? { profileId } : {}) },
    faces: { faceSet: '/faces', photos: 30, train: 26, holdout: 4, smiling: 15, neutral: 15 },
    preset: 'balanced',
    settings: { steps: [160, 80, 0], learningRate: 2e-5, mu: 0.01, batchSize: 16, seed: 1 },
    secondsTraining: 200,
    metrics: { base: metrics(0.3, 1), tuned: metrics(0.2, 0.75) },
  };
}

/** Writes a profile with weights from `seed`, as a fine-tune would. */
async function addProfile(store: ProfileStore, id: string, from: string, profileId?: string) {
  const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, id.length);
  try {
    return await store.write(model, record(id, from, profileId));
  } finally {
    model.dispose();
  }
}

beforeAll(async () => {
  await selectBackend('wasm');
  root = await mkdtemp(path.join(os.tmpdir(), 'mien-ft-profiles-'));
  base = await untrainedBase(path.join(root, 'default.mien'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('profiles', () => {
  it('activate and roll back: to the base file, or to the profile a profile was tuned from', async () => {
    const store = new ProfileStore(await mkdtemp(path.join(root, 'lib-')));
    await expect(store.rollBack()).rejects.toThrow(/nothing to roll back/);
    const first = await addProfile(store, 'anna', base);
    await addProfile(store, 'anna-again', first.file, 'anna');
    expect((await store.list()).map((p) => p.id)).toEqual(['anna', 'anna-again']);

    await store.activate({ profile: 'anna-again' });
    expect(await store.activeFile()).toBe(store.fileOf('anna-again'));
    expect(await store.rollBack()).toEqual({ profile: 'anna' });
    expect(await store.rollBack()).toEqual({ file: base });
    expect(await store.activeFile()).toBe(base);
    await expect(store.activate({ profile: 'nobody' })).rejects.toThrow(/no profile "nobody"/);
  });

  it('never replaces a profile, and will not delete the active one', async () => {
    const store = new ProfileStore(await mkdtemp(path.join(root, 'lib-')));
    await addProfile(store, 'ben', base);
    await expect(addProfile(store, 'ben', base)).rejects.toThrow(/profile "ben" already exists/);
    await store.activate({ profile: 'ben' });
    await expect(store.remove('ben')).rejects.toThrow(/active profile/);
    await store.activate({ file: base });
    await store.remove('ben');
    expect(await readdir(store.dir)).toEqual(['active.json']);
  });

  it('exports one file that imports elsewhere with its record, weights and figures', async () => {
    const store = new ProfileStore(await mkdtemp(path.join(root, 'lib-')));
    const original = await addProfile(store, 'cara', base);
    const exported = await store.export('cara', path.join(root, 'cara-export.mien'));
    await expect(store.export('cara', original.file)).rejects.toThrow(/is the profile itself/);

    const other = new ProfileStore(await mkdtemp(path.join(root, 'lib-')));
    await addProfile(other, 'cara', base);
    const imported = await other.import(exported, 'Cara at home');
    expect(imported).toMatchObject({ id: 'cara-at-home', name: 'Cara at home', metrics: original.metrics });
    const again = await other.import(exported);
    expect(again.id).toBe('profile-cara');
    const a = await readCheckpoint(original.file);
    const b = await readCheckpoint(imported.file);
    const bytes = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    for (const [name, tensor] of a.tensors)
      expect(bytes(b.tensors.get(name)!.values).equals(bytes(tensor.values))).toBe(true);
    expect(b.header.meta['metrics']).toEqual(flatMetrics(original));

    const notAProfile = path.join(root, 'plain.mien');
    await untrainedBase(notAProfile);
    await expect(other.import(notAProfile)).rejects.toThrow(/not an exported fine-tune profile/);
    const garbage = path.join(root, 'garbage.mien');
    await writeFile(garbage, 'not a model');
    await expect(other.import(garbage)).rejects.toThrow(/not a Mien checkpoint/);
  });

  it('puts the tuned figures and the base’s, prefixed, where the model library reads numbers', () => {
    expect(flatMetrics(record('x', base))).toEqual({
      expressionSuccess: 0.75,
      identityDistance: 0.2,
      identityKeptShare: 1,
      psnr: 24.5,
      ssim: 0.8,
      mouthSharpnessKept: 0.75,
      baseExpressionSuccess: 0.75,
      baseIdentityDistance: 0.3,
      baseIdentityKeptShare: 1,
      basePsnr: 24.5,
      baseSsim: 0.8,
      baseMouthSharpnessKept: 1,
      holdoutFaces: 4,
    });
    // A profile measured before the mouth's sharpness was has no such figure, and none is made up.
    const older = record('y', base);
    const tuned = metrics(0.2);
    delete (tuned as Partial<HoldoutMetrics>).mouthSharpnessKept;
    const flat = flatMetrics({ ...older, metrics: { tuned } });
    expect(flat).not.toHaveProperty('mouthSharpnessKept');
    expect(flat['expressionSuccess']).toBe(0.75);
  });
});
