import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type {
  EventChannel,
  FinetunePreview,
  FinetuneProgress,
  JobEnd,
  ModelEntry,
  ReplyOf,
  RequestChannel,
} from '../../src-main/contract/ipc-contract.js';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { finetuneCheckpointEvery } from '../../src-main/core/finetune/settings.js';
import type * as SpawnWorker from '../../src-main/core/util/spawn-worker.js';
import { JsonFileStore } from '../../src-main/host/json-store.js';
import { createAppServices, type AppServices } from '../../src-main/services/app-services.js';
import { untrainedBase } from '../fixtures/finetune.js';
import { faceImages } from '../helpers/faces.js';

/*
 * The fine-tune channels with the real services and worker: CelebA photos in
 * an opened folder become a face set, the user corrects it, and a few steps
 * of fine-tuning from an untrained base make a profile the model library lists.
 */

/** Every compute worker thread the services start, so a test can kill the running one as a crash would. */
const computeWorkers = vi.hoisted(() => [] as Worker[]);
vi.mock('../../src-main/core/util/spawn-worker.js', async (importOriginal) => {
  const original = await importOriginal<typeof SpawnWorker>();
  return {
    spawnWorker: (callerUrl: string, name: string): Worker => {
      const worker = original.spawnWorker(callerUrl, name);
      if (name === 'compute-worker') computeWorkers.push(worker);
      return worker;
    },
  };
});

/** CelebA training photos with one face each, smiling and not, in turns. */
const photoNames = ['000002.jpg', '000005.jpg', '000009.jpg', '000006.jpg', '000011.jpg', '000008.jpg'];
const photoNames2 = ['000012.jpg', '000014.jpg', '000013.jpg', '000015.jpg'];
/** one where the detector finds no face */
const faceless = '000003.jpg';
const pngMagic = [0x89, 0x50, 0x4e, 0x47];

let root: string;
let photos: string;
let baseFile: string;
let services: AppServices;
const events: { event: EventChannel; body: unknown }[] = [];

/** Calls a channel and returns the value, failing the test with the service's message otherwise. */
async function call<C extends RequestChannel>(channel: C, payload: unknown = {}): Promise<ReplyOf<C>> {
  const envelope = await services.dispatch(channel, payload);
  if (!envelope.ok) throw new Error(`${envelope.error.code}: ${envelope.error.message}`);
  return envelope.value as ReplyOf<C>;
}

async function failure(channel: RequestChannel, payload: unknown): Promise<{ code: string; message: string }> {
  const envelope = await services.dispatch(channel, payload);
  if (envelope.ok) throw new Error(`${channel} should have failed`);
  return envelope.error;
}

function eventsOf<T>(event: EventChannel, filter: (body: T) => boolean = () => true): T[] {
  return events
    .filter((e) => e.event === event)
    .map((e) => e.body as T)
    .filter(filter);
}

async function waitFor<T>(find: () => T | undefined, timeoutMs = 240_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const jobEnd = (jobId: string) => waitFor(() => eventsOf<JobEnd>('job:end', (e) => e.jobId === jobId)[0]);
const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/** A face set of the given photos, collected through the services. */
async function collect(folder: string) {
  const { jobId, faceSetId } = await call('finetune:collect', { source: { folder }, holdout: 2 });
  const end = await jobEnd(jobId);
  expect(end).toMatchObject({ state: 'done', kind: 'faces' });
  return { faceSetId, end };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'mien-ft-services-'));
  photos = path.join(root, 'photos');
  await mkdir(path.join(photos, 'more'), { recursive: true });
  for (const name of photoNames) await copyFile(path.join(faceImages, name), path.join(photos, name));
  for (const name of photoNames2) await copyFile(path.join(faceImages, name), path.join(photos, 'more', name));
  await copyFile(path.join(faceImages, faceless), path.join(photos, faceless));
  await selectBackend('wasm');
  await mkdir(path.join(root, 'resources', 'models'), { recursive: true });
  baseFile = await untrainedBase(path.join(root, 'resources', 'models', 'default.mien'));
  services = await openServices();
});

/** The services on the test's data folder, as the app starts them (again after a close). */
function openServices(): Promise<AppServices> {
  return createAppServices({
    dataDir: path.join(root, 'data'),
    resourcesDir: path.join(root, 'resources'),
    store: new JsonFileStore(path.join(root, 'data', 'settings.json')),
    emit: (event, body) => events.push({ event, body }),
  });
}

afterAll(async () => {
  await services?.close();
  await rm(root, { recursive: true, force: true });
});

describe('fine-tune payloads', () => {
  it('are validated before anything runs', async () => {
    const outsideFolder = await failure('finetune:collect', { source: { folder: photos } });
    expect(outsideFolder.message).toMatch(/outside the folders you opened/);
    expect((await failure('finetune:faceSet', { faceSetId: '../models' })).message).toMatch(/not a valid id/);
    const noName = await failure('finetune:start', { faceSetId: 'abc', name: '   ' });
    expect(noName).toEqual({ code: 'invalid-payload', message: 'finetune:start: name: give the profile a name' });
    const rate = await failure('finetune:start', { faceSetId: 'abc', name: 'A', advanced: { learningRate: 0.5 } });
    expect(rate.message).toMatch(/learning rate above 0.01/);
    expect((await failure('finetune:start', { faceSetId: 'abc', name: 'A', preset: 'slow' })).code).toBe(
      'invalid-payload',
    );
    expect((await failure('finetune:discard', { runId: 'a' })).message).toMatch(/confirmed/);
    expect((await failure('finetune:relabel', { faceSetId: 'abc', changes: [] })).code).toBe('invalid-payload');
    expect((await failure('finetune:faceSet', { faceSetId: 'no-such-set' })).message).toMatch(/collect faces first/);
    expect((await failure('finetune:pause', { runId: 'nothing' })).message).toMatch(/not running/);
  });

  it('offers presets with time estimates and the advanced values they start from', async () => {
    const reply = await call('finetune:presets');
    expect(reply.presets.map((p) => p.id)).toEqual(['quick', 'balanced', 'best']);
    expect(reply.presets[0]!.description).toMatch(/minutes/);
    expect(reply.defaultPreset).toBe('balanced');
    expect(reply.advanced.learningRate).toBeGreaterThan(0);
    expect(reply.advanced.wholeNetwork).toBe(false);
  });
});

describe('a fine-tune from the services', () => {
  let faceSetId: string;

  it('collects the faces of an opened folder as a labelled face set with crops', async () => {
    await call('library:open', { folder: photos });
    const collected = await collect(photos);
    faceSetId = collected.faceSetId;
    expect(collected.end.summary).toMatch(/^6 faces from 7 photos \(3 smiling, 3 not\), 2 held out/);
    expect(collected.end.errors).toEqual([{ file: path.join(photos, faceless), error: 'no face found' }]);
    const set = await call('finetune:faceSet', { faceSetId });
    expect(set.faces).toHaveLength(photoNames.length);
    expect(set.counts).toMatchObject({ train: photoNames.length - 2, holdout: 2 });
    for (const face of set.faces) {
      expect([...face.image.subarray(0, 4)]).toEqual(pngMagic);
      expect(face.corrected).toBe(false);
      expect(face.photo.startsWith(photos)).toBe(true);
    }
    expect(set.warnings.map((w) => w.code)).toContain('too-few-faces');
  });

  it('collects only the faces of one person when asked (a face of a photo)', async () => {
    const person = { photo: path.join(photos, '000002.jpg'), faceId: 'face-1' };
    const { jobId, faceSetId: personSet } = await call('finetune:collect', { source: { folder: photos }, person });
    const end = await jobEnd(jobId);
    expect(end.state).toBe('done');
    expect(end.errors).toContainEqual({ file: path.join(photos, '000005.jpg'), error: 'no face of this person' });
    const set = await call('finetune:faceSet', { faceSetId: personSet });
    expect(set.faces.map((f) => path.basename(f.photo))).toEqual(['000002.jpg']);
    expect(set.warnings.map((w) => w.code)).toEqual(['too-few-faces', 'one-expression']);
  });

  it('takes the user’s corrections: a label, a split, a face left out', async () => {
    const before = await call('finetune:faceSet', { faceSetId });
    const [first, second, third] = before.faces;
    const after = await call('finetune:relabel', {
      faceSetId,
      changes: [
        { file: first!.file, smiling: !first!.smiling },
        { file: second!.file, split: second!.split === 'train' ? 'holdout' : 'train' },
      ],
    });
    expect(after.faces[0]).toMatchObject({ smiling: !first!.smiling, corrected: true });
    expect(after.faces[1]!.split).not.toBe(second!.split);
    const excluded = await call('finetune:relabel', { faceSetId, changes: [{ file: third!.file, exclude: true }] });
    expect(excluded.faces.map((f) => f.file)).not.toContain(third!.file);
    const unknown = await failure('finetune:relabel', {
      faceSetId,
      changes: [{ file: 'face-9999.png', smiling: true }],
    });
    expect(unknown.message).toMatch(/no face face-9999.png/);
  });

  it('trains, pauses at a step boundary, resumes, and ends as a profile beside an unchanged base', async () => {
    const baseHash = await sha256(baseFile);
    const { jobId, runId } = await call('finetune:start', {
      faceSetId,
      name: 'Anna',
      advanced: { steps: 6, wholeNetwork: true },
    });
    expect(runId).toBe('anna');
    await waitFor(() => eventsOf<FinetuneProgress>('finetune:progress', (e) => e.jobId === jobId && e.step >= 2)[0]);
    await call('finetune:pause', { runId });
    const paused = await jobEnd(jobId);
    expect(paused).toMatchObject({
      kind: 'finetune',
      state: 'cancelled',
      summary: expect.stringMatching(/^Paused at step/),
    });
    const [unfinished] = (await call('finetune:unfinished')).runs;
    expect(unfinished).toMatchObject({ runId: 'anna', name: 'Anna', totalSteps: 6, jobId: null });
    expect(unfinished!.stepsDone).toBeGreaterThanOrEqual(2);
    const stepsBefore = unfinished!.stepsDone;
    expect((await failure('finetune:start', { faceSetId, name: 'anna' })).message).toMatch(/is paused/);

    const resumed = await call('finetune:resume', { runId });
    const end = await jobEnd(resumed.jobId);
    expect(end).toMatchObject({ state: 'done', files: [expect.stringMatching(/anna\.mien$/)] });
    const resumedSteps = eventsOf<FinetuneProgress>('finetune:progress', (e) => e.jobId === resumed.jobId).flatMap(
      (e) => e.points.map((p) => p.step),
    );
    expect(resumedSteps.filter((s) => s > stepsBefore)).toEqual(
      [...Array(6 - stepsBefore)].map((_, i) => stepsBefore + i + 1),
    );
    const previews = eventsOf<FinetunePreview>('finetune:preview');
    expect(previews.length).toBeGreaterThan(0);
    expect([...previews[0]!.image.subarray(0, 4)]).toEqual(pngMagic);
    expect(eventsOf<FinetuneProgress>('finetune:progress').some((e) => e.stage === 'evaluating')).toBe(true);

    expect((await call('finetune:unfinished')).runs).toEqual([]);
    expect(await sha256(baseFile)).toBe(baseHash);
    const { models } = await call('models:list');
    const profile = models.find((m) => m.id === 'anna') as ModelEntry;
    expect(profile).toMatchObject({ name: 'Anna', builtIn: false, tunedFrom: { id: 'default' } });
    expect(profile.comparison?.faces).toBeGreaterThan(0);
    expect(profile.comparison?.base?.psnr).toBeGreaterThan(0);
    expect(profile.comparison?.tuned.expressionSuccess).toBeGreaterThanOrEqual(0);
    // Measured on the held-out faces like the rest, for the base and the tune alike.
    expect(profile.comparison?.tuned.mouthSharpnessKept).toBeGreaterThanOrEqual(0);
    expect(profile.comparison?.base?.mouthSharpnessKept).toBeLessThanOrEqual(1);
    const record = JSON.parse(await readFile(path.join(root, 'data', 'models', 'anna.json'), 'utf8'));
    expect(record.settings).toMatchObject({ steps: [4, 2, 0], trained: 'all' });
    // Started without a preset: the services chose the default they offer.
    expect(record.preset).toBe((await call('finetune:presets')).defaultPreset);
    // Exported and imported again, a profile keeps its figures and its base.
    const exported = (await call('models:export', { id: 'anna', file: path.join(root, 'exports', 'anna.mien') })).file!;
    const imported = (await call('models:import', { file: exported, name: 'Anna again' })).model!;
    expect(imported).toMatchObject({ comparison: profile.comparison, tunedFrom: { id: 'default' } });
    await call('models:activate', { id: 'anna' });
    expect((await call('app:status')).model?.name).toBe('Anna');
    expect((await failure('finetune:start', { faceSetId, name: 'ANNA' })).message).toMatch(/exists already/);
    expect((await failure('finetune:start', { faceSetId, name: 'Default' })).message).toMatch(/shipped model/);
  });

  it('discards a running fine-tune, and keeps the backend while it runs', async () => {
    await call('library:open', { folder: path.join(photos, 'more') });
    const smallSet = (await collect(path.join(photos, 'more'))).faceSetId;
    const { jobId, runId } = await call('finetune:start', { faceSetId: smallSet, name: 'Ben', preset: 'quick' });
    await waitFor(() => eventsOf<FinetuneProgress>('finetune:progress', (e) => e.jobId === jobId && e.step >= 1)[0]);
    expect((await failure('finetune:resume', { runId })).message).toMatch(/running already/);
    expect((await failure('settings:set', { backend: 'cpu' })).message).toMatch(/running jobs/);
    await call('finetune:discard', { runId, confirmed: true });
    expect((await jobEnd(jobId)).state).toBe('cancelled');
    expect((await call('finetune:unfinished')).runs).toEqual([]);
    expect((await call('models:list')).models.map((m) => m.id)).not.toContain('ben');
    expect((await failure('finetune:discard', { runId: 'ben', confirmed: true })).message).toMatch(
      /holds no fine-tune/,
    );
  });

  it('pauses a running fine-tune when the app closes, and offers it again at the next start', async () => {
    const faceSetId = (await collect(path.join(photos, 'more'))).faceSetId;
    const { jobId } = await call('finetune:start', { faceSetId, name: 'Cleo', advanced: { steps: 6 } });
    await waitFor(() => eventsOf<FinetuneProgress>('finetune:progress', (e) => e.jobId === jobId && e.step >= 1)[0]);
    await services.close();
    expect((await jobEnd(jobId)).state).toBe('cancelled');

    services = await openServices();
    const [paused] = (await call('finetune:unfinished')).runs;
    expect(paused).toMatchObject({ runId: 'cleo', name: 'Cleo', jobId: null });
    expect(paused!.stepsDone).toBeGreaterThanOrEqual(1);
    const resumed = await call('finetune:resume', { runId: 'cleo' });
    expect((await jobEnd(resumed.jobId)).state).toBe('done');
    expect((await call('models:list')).models.map((m) => m.id)).toContain('cleo');
  });
  it('reports a compute worker that dies mid-run, keeps its last checkpoint, and resumes it in a fresh worker', async () => {
    const folder = path.join(photos, 'more');
    await call('library:open', { folder });
    const faceSetId = (await collect(folder)).faceSetId;
    const before = await call('app:status');
    // Just past the first periodic checkpoint, so the kill lands between two checkpoints. That checkpoint is
    // twenty steps in, which on a busy machine outlasts the default test timeout.
    const steps = finetuneCheckpointEvery + 4;
    const { jobId, runId } = await call('finetune:start', { faceSetId, name: 'Dora', advanced: { steps } });
    const stepsOf = (id: string) =>
      eventsOf<FinetuneProgress>('finetune:progress', (e) => e.jobId === id).flatMap((e) =>
        e.points.map((p) => p.step),
      );
    await waitFor(() => stepsOf(jobId).find((step) => step > finetuneCheckpointEvery));
    const workersBefore = computeWorkers.length;
    // Stops the thread at once, mid-step: no pause, no checkpoint of its own, like a crash in native code.
    await computeWorkers.at(-1)!.terminate();

    const failed = await jobEnd(jobId);
    expect(failed).toMatchObject({ kind: 'finetune', state: 'failed' });
    expect(failed.summary).toMatch(
      new RegExp(`compute worker stopped .*last checkpoint \\(step ${finetuneCheckpointEvery} of ${steps}\\) is kept`),
    );
    const killedAt = Math.max(...stepsOf(jobId));
    const kept = (await call('finetune:unfinished')).runs.find((r) => r.runId === runId);
    expect(kept).toMatchObject({ name: 'Dora', stepsDone: finetuneCheckpointEvery, totalSteps: steps, jobId: null });
    expect(killedAt - kept!.stepsDone).toBeLessThanOrEqual(finetuneCheckpointEvery);

    // The next request starts one fresh worker, set up with the same backend and model.
    const status = await call('app:status');
    expect(computeWorkers).toHaveLength(workersBefore + 1);
    expect(status).toMatchObject({ backend: { name: before.backend.name }, model: before.model, modelError: null });

    const resumed = await call('finetune:resume', { runId });
    expect((await jobEnd(resumed.jobId)).state).toBe('done');
    expect(stepsOf(resumed.jobId).filter((step) => step > finetuneCheckpointEvery)).toEqual(
      [...Array(steps - finetuneCheckpointEvery)].map((_, i) => finetuneCheckpointEvery + i + 1),
    );
    expect(computeWorkers).toHaveLength(workersBefore + 1);
    expect((await call('models:list')).models.map((m) => m.id)).toContain('dora');
  }, 240_000);
});
