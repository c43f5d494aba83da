import * as tf from '@tensorflow/tfjs';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import type { FaceSet } from '../../src-main/core/finetune/face-set.js';
import {
  resumeFinetune,
  startFinetune,
  unfinishedFinetunes,
  type FinetuneEvent,
} from '../../src-main/core/finetune/finetune.js';
import { loadFaceApi } from '../../src-main/core/faces/detect-faces.js';
import { labelResponse } from '../../src-main/core/finetune/edit-strength.js';
import { faceSetFaces } from '../../src-main/core/finetune/holdout.js';
import { LossWatch } from '../../src-main/core/finetune/loss-watch.js';
import { pruneFaceSets, unusedFaceSetLifetimeMs } from '../../src-main/core/finetune/prune-face-sets.js';
import { describeWriteError } from '../../src-main/core/finetune/storage.js';
import { ModelLibrary } from '../../src-main/core/library/model-library.js';
import { readCheckpoint, readCheckpointHeader } from '../../src-main/core/model/checkpoint.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { fileExists } from '../../src-main/core/util/file-exists.js';
import { celebaFaceSet, untrainedBase } from '../fixtures/finetune.js';
import { mountRamDisk } from '../helpers/read-only.js';

const pngMagic = [0x89, 0x50, 0x4e, 0x47];
/** A few steps in two phases, a checkpoint every other step: seconds, not minutes. */
const tiny = { steps: [4, 2, 0] as [number, number, number], batchSize: 8, checkpointEvery: 2 };

let root: string;
let base: string;
let faces: FaceSet;
const scratch = () => mkdtemp(path.join(root, 'case-'));
const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

beforeAll(async () => {
  await selectBackend('wasm');
  root = await mkdtemp(path.join(os.tmpdir(), 'mien-ft-run-'));
  base = await untrainedBase(path.join(root, 'base.mien'));
  faces = await celebaFaceSet(path.join(root, 'faces'), 12, 2);
  // The face networks hold their weights for the life of the process: load them before counting tensors.
  await loadFaceApi();
});
// Runs leave checkpoints of tens of megabytes.
afterAll(() => rm(root, { recursive: true, force: true }));

describe('a fine-tune', () => {
  it('turns a base into a profile the model library lists, and leaves the base untouched', async () => {
    const profilesDir = path.join(await scratch(), 'profiles');
    const baseHash = await sha256(base);
    const events: FinetuneEvent[] = [];
    const result = await startFinetune(
      { name: 'Anna', faceSet: faces.dir, from: base, profilesDir, advanced: tiny },
      { onEvent: (e) => events.push(e) },
    );
    expect(result).toMatchObject({ status: 'finished', stepsDone: 6, totalSteps: 6 });
    const profile = result.profile!;
    expect(profile).toMatchObject({ id: 'anna', name: 'Anna', from: { file: base, sha256: baseHash } });
    expect(profile.faces).toMatchObject({ train: 10, holdout: 2 });

    expect(await sha256(base)).toBe(baseHash);
    // Profiles are stored in float16: compare with the base rounded the same way.
    const halfBase = path.join(root, 'base-half.mien');
    const loaded = await ExpressionModel.load(base);
    await loaded.save(halfBase, {}, true);
    loaded.dispose();
    const before = await readCheckpoint(halfBase);
    const after = await readCheckpoint(profile.file);
    expect(after.header.tensors.every((t) => t.dtype === 'float16')).toBe(true);
    const changed = [...before.tensors].filter(([name, t]) =>
      t.values.some((v, i) => v !== after.tensors.get(name)!.values[i]!),
    );
    // By default the decoder alone learns: the base's encoder and discriminator come through unchanged.
    const decoder = [...before.tensors.keys()].filter((name) => name.startsWith('decoder.'));
    expect(changed.map(([name]) => name).sort()).toEqual(decoder.sort());
    expect(profile.settings.trained).toBe('decoder');

    const progress = events.flatMap((e) => (e.type === 'progress' ? [e] : []));
    expect(progress.map((p) => p.phase)).toEqual([1, 1, 1, 1, 2, 2]);
    expect(progress.at(-1)!.learningRate).toBeCloseTo(progress[0]!.learningRate / 3);
    const previews = events.flatMap((e) => (e.type === 'preview' ? [e] : []));
    expect(previews[0]!.step).toBe(0);
    expect(previews.at(-1)!.step).toBe(6);
    expect([...previews[0]!.png.subarray(0, 4)]).toEqual(pngMagic);
    // Each preview measures the held-out reconstruction: the validation curve, kept with the profile.
    expect(profile.validation).toEqual(previews.map((p) => ({ step: p.step, psnr: p.validationPsnr })));
    for (const point of profile.validation!) expect(point.psnr).toBeGreaterThan(0);

    // Its edits are matched to the base's strength on the training faces (the profile is float16, hence 2%).
    const [baseModel, profileModel] = [await ExpressionModel.load(base), await ExpressionModel.load(profile.file)];
    expect(profileModel.editScale).toBe(profile.editScale);
    expect(profile.editScale).toBeGreaterThan(0.5); // not at a bound, where the match is not exact
    expect(profile.editScale).toBeLessThan(2);
    const trainFaces = await faceSetFaces(faces, 'train', 24);
    const baseStrength = labelResponse(baseModel, trainFaces);
    const gap = Math.abs(labelResponse(profileModel, trainFaces) * profile.editScale! - baseStrength);
    expect(gap / baseStrength).toBeLessThan(0.02);
    baseModel.dispose();
    profileModel.dispose();

    const { base: baseMetrics, tuned } = profile.metrics;
    expect(baseMetrics?.faces).toBe(2);
    expect(tuned?.faces).toBe(2);
    for (const m of [baseMetrics!, tuned!]) {
      expect(m.expressionSuccess).toBeGreaterThanOrEqual(0);
      expect(m.expressionSuccess).toBeLessThanOrEqual(1);
      expect(m.psnr).toBeGreaterThan(0);
    }

    const [listed] = await new ModelLibrary(path.join(root, 'no-default.mien'), profilesDir).list();
    expect(listed).toMatchObject({ id: 'anna', name: 'Anna', file: profile.file });
    expect(Object.keys(listed!.metrics)).toEqual(
      expect.arrayContaining(['expressionSuccess', 'identityDistance', 'psnr', 'baseExpressionSuccess', 'basePsnr']),
    );
    // The run's checkpoints are gone; the last preview stays beside the profile.
    expect(await fileExists(path.join(profilesDir, '.finetune', 'anna'))).toBe(false);
    expect(await fileExists(path.join(profilesDir, 'anna.preview.png'))).toBe(true);
    await expect(
      startFinetune({ name: 'anna', faceSet: faces.dir, from: base, profilesDir, advanced: tiny }),
    ).rejects.toThrow(/profile "anna" already exists/);
  });

  it('pauses at a step boundary and resumes where it stopped, leaking no tensors per step', async () => {
    const profilesDir = path.join(await scratch(), 'profiles');
    const tensorsBefore = tf.memory().numTensors;
    const controller = new AbortController();
    const paused = await startFinetune(
      // The whole network this time (the SIGKILL case below resumes a decoder-only run).
      { name: 'Ben', faceSet: faces.dir, from: base, profilesDir, advanced: { ...tiny, trained: 'all' } },
      { signal: controller.signal, onEvent: (e) => e.type === 'progress' && e.step === 3 && controller.abort() },
    );
    expect(paused).toMatchObject({ status: 'paused', stepsDone: 3 });
    expect(paused.profile).toBeUndefined();
    expect(await unfinishedFinetunes(profilesDir)).toEqual([
      { workDir: paused.workDir, name: 'Ben', faceSet: faces.dir, stepsDone: 3, totalSteps: 6 },
    ]);
    const events: FinetuneEvent[] = [];
    const resumed = await resumeFinetune(paused.workDir, { onEvent: (e) => events.push(e) });
    expect(events.find((e) => e.type === 'ready')).toMatchObject({ resumedFrom: 3 });
    expect(events.filter((e) => e.type === 'progress').map((e) => (e as { step: number }).step)).toEqual([4, 5, 6]);
    expect(resumed).toMatchObject({
      status: 'finished',
      stepsDone: 6,
      profile: { id: 'ben', settings: { trained: 'all' } },
    });
    expect(await unfinishedFinetunes(profilesDir)).toEqual([]);
    // Nothing grows per step, checkpoint or preview: what may stay is the face networks' one-time warm-up
    // (a leak per step, checkpoint or preview would add at least 6, 3 or 4).
    expect(tf.memory().numTensors - tensorsBefore).toBeLessThanOrEqual(4);
  });

  it('survives SIGKILL: resumes from the last checkpoint, losing at most the checkpoint interval', async () => {
    const dir = await scratch();
    const profilesDir = path.join(dir, 'profiles');
    const workDir = path.join(dir, 'work');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/finetune-until-killed.ts', faces.dir, base, profilesDir, workDir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const killedAfter = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const steps = [...chunk.toString().matchAll(/checkpoint (\d+)/g)].map((m) => Number(m[1]));
        if (steps.some((s) => s >= 4)) {
          child.kill('SIGKILL');
          resolve(Math.max(...steps));
        }
      });
      child.on('exit', (code, signal) => signal !== 'SIGKILL' && reject(new Error(`child exited early (${code})`)));
    });
    const saved = (await readCheckpointHeader(path.join(workDir, 'run', 'checkpoint.mien'))).meta['step'] as number;
    expect(saved).toBeGreaterThanOrEqual(killedAfter);
    const events: FinetuneEvent[] = [];
    const controller = new AbortController();
    const result = await resumeFinetune(workDir, {
      signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'progress' && e.step >= saved + 2) controller.abort();
      },
    });
    expect(events.find((e) => e.type === 'ready')).toMatchObject({ resumedFrom: saved });
    expect(result).toMatchObject({ status: 'paused', stepsDone: saved + 2 });
  });
});

describe('face sets', () => {
  it('are pruned once old and unused; those of profiles and paused fine-tunes stay', async () => {
    const dir = await scratch();
    const profilesDir = path.join(dir, 'profiles');
    const setsDir = path.join(dir, 'sets');
    const [forPaused, forProfile, unused] = await Promise.all(
      ['paused', 'profile', 'unused'].map((name) => celebaFaceSet(path.join(setsDir, name), 10, 2)),
    );
    const controller = new AbortController();
    const paused = await startFinetune(
      { name: 'Paused', faceSet: forPaused!.dir, from: base, profilesDir, advanced: tiny },
      { signal: controller.signal, onEvent: (e) => e.type === 'progress' && controller.abort() },
    );
    expect(paused.status).toBe('paused');
    const finished = await startFinetune({
      name: 'Done',
      faceSet: forProfile!.dir,
      from: base,
      profilesDir,
      advanced: { ...tiny, steps: [1, 0, 0] },
    });
    expect(finished.profile?.faces.faceSet).toBe(forProfile!.dir);

    expect(await pruneFaceSets({ facesRoot: setsDir, profilesDir })).toEqual([]);
    const fortnightLater = Date.now() + unusedFaceSetLifetimeMs + 60_000;
    expect(await pruneFaceSets({ facesRoot: setsDir, profilesDir, now: fortnightLater })).toEqual([unused!.dir]);
    expect((await readdir(setsDir)).sort()).toEqual(['paused', 'profile']);
  });
});

describe('a fine-tune that fails', () => {
  it('stops on divergence with a clear message, writes no profile and keeps the last good checkpoint', async () => {
    const dir = await scratch();
    const profilesDir = path.join(dir, 'profiles');
    const workDir = path.join(dir, 'work');
    const request = {
      name: 'wild',
      faceSet: faces.dir,
      from: base,
      profilesDir,
      workDir,
      advanced: { ...tiny, steps: [40, 0, 0] as [number, number, number], learningRate: 1e35, checkpointEvery: 1 },
    };
    await expect(startFinetune(request)).rejects.toThrow(
      /diverged at step \d+ .*no profile was written and the last good checkpoint is kept .*lower learning rate \(this run used 1e\+35\)/,
    );
    expect((await readdir(profilesDir)).filter((f) => f.endsWith('.mien'))).toEqual([]);
    const checkpoint = await readCheckpoint(path.join(workDir, 'run', 'checkpoint.mien'));
    for (const tensor of checkpoint.tensors.values()) expect(tensor.values.every(Number.isFinite)).toBe(true);
  });

  it('notices losses that explode without becoming NaN, and tolerates ordinary noise', () => {
    const watch = new LossWatch();
    const step = (n: number, reconstruction: number, crossEntropy = 0.7) =>
      watch.observe({ step: n, reconstruction, adversarial: crossEntropy, discriminator: crossEntropy });
    for (let n = 1; n <= 10; n++) expect(step(n, 0.04 + (n % 2) * 0.01)).toBeUndefined();
    expect(step(11, 0.2)).toBeUndefined();
    expect(step(12, 0.03)).toBeUndefined();
    expect(step(13, 0.5)).toBeUndefined();
    expect(step(14, 0.6)).toBeUndefined();
    expect(step(15, 0.7)).toMatch(/reconstruction loss exploded at step 15/);
    const adversarial = new LossWatch();
    for (let n = 1; n <= 2; n++)
      expect(adversarial.observe({ step: n, reconstruction: 0.05, adversarial: 80, discriminator: 1 })).toBeUndefined();
    expect(adversarial.observe({ step: 3, reconstruction: 0.05, adversarial: 80, discriminator: 1 })).toMatch(
      /adversarial losses exploded/,
    );
  });

  it('refuses an unwritable profiles folder before any work, naming it', async () => {
    const blocker = path.join(await scratch(), 'a-file');
    await writeFile(blocker, 'in the way');
    const profilesDir = path.join(blocker, 'profiles');
    await expect(startFinetune({ name: 'x', faceSet: faces.dir, from: base, profilesDir })).rejects.toThrow(
      `cannot write profiles to ${profilesDir}: a file is in the way where a folder should be`,
    );
    await expect(
      startFinetune({
        name: 'x',
        faceSet: faces.dir,
        from: path.join(root, 'missing.mien'),
        profilesDir: await scratch(),
      }),
    ).rejects.toThrow(/missing\.mien: file not found/);
  });

  it('names disk-full, permission and read-only failures in words', () => {
    const failure = (code: string) => Object.assign(new Error(code), { code });
    const cases: [string, RegExp][] = [
      ['ENOSPC', /not enough disk space to write the profile \(\/p\/a\.mien\); free some space/],
      ['EACCES', /cannot write the profile to \/p\/a\.mien: permission denied/],
      ['EROFS', /the disk is read-only/],
    ];
    for (const [code, message] of cases) {
      expect((describeWriteError(failure(code), '/p/a.mien', 'the profile') as Error).message).toMatch(message);
    }
    const other = failure('EIO');
    expect(describeWriteError(other, '/p/a.mien', 'the profile')).toBe(other);
  });
});

describe('a full disk', () => {
  let ramDisk: string | undefined;
  beforeAll(async () => {
    const dir = path.join(root, 'ram');
    await mkdir(dir);
    if (mountRamDisk(dir, '2m')) ramDisk = dir;
  });
  afterAll(() => {
    if (ramDisk) execFileSync('umount', [ramDisk]);
  });

  it('stops with a clear message when the profile does not fit, and the run finishes once there is room', async (context) => {
    if (!ramDisk) return context.skip('mounting a RAM disk is not allowed here');
    const workDir = path.join(await scratch(), 'work');
    const request = { name: 'full', faceSet: faces.dir, from: base, profilesDir: ramDisk, workDir, advanced: tiny };
    await expect(startFinetune(request)).rejects.toThrow(
      `not enough disk space to write the profile (${path.join(ramDisk, 'full.mien')}); free some space and try again`,
    );
    expect(await readdir(ramDisk)).toEqual([]);
    execFileSync('mount', ['-o', 'remount,size=64m', ramDisk]);
    const result = await resumeFinetune(workDir);
    expect(result).toMatchObject({ status: 'finished', profile: { id: 'full' } });
  });
});
