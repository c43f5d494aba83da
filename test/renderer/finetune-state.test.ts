import { describe, expect, test } from 'vitest';
import type {
  FaceSetSummary,
  FinetuneProgress,
  JobEnd,
  LossPoint,
  ModelEntry,
} from '../../src-main/contract/ipc-contract.js';
import { collectRequest, FinetuneState, mergePoints } from '../../src-renderer/state/finetune-state.svelte.js';
import { Notifications } from '../../src-renderer/state/notifications.svelte.js';
import { fakeBackend, type Handler } from './fixtures.js';

const summary = (overrides: Partial<FaceSetSummary> = {}): FaceSetSummary => ({
  faceSetId: 'set-1',
  faces: [
    {
      file: 'face-0001.png',
      smiling: true,
      split: 'train',
      detectedSmile: 0.9,
      corrected: false,
      photo: '/p/a.jpg',
      faceId: 'face-1',
    },
    {
      file: 'face-0002.png',
      smiling: false,
      split: 'holdout',
      detectedSmile: 0.1,
      corrected: false,
      photo: '/p/b.jpg',
      faceId: 'face-1',
    },
  ],
  counts: { train: 1, holdout: 1, smiling: 1, neutral: 1 },
  warnings: [{ code: 'too-few-faces', message: 'only 2 faces' }],
  ...overrides,
});

const withImages = (set: FaceSetSummary) => ({
  ...set,
  faces: set.faces.map((f) => ({ ...f, image: new Uint8Array([0x89, 0x50]), mime: 'image/png' })),
});

const presets = {
  presets: [
    { id: 'quick', steps: 120, description: 'about 2 minutes: a first look' },
    { id: 'balanced', steps: 240, description: 'about 4 minutes: the default' },
    { id: 'best', steps: 600, description: 'about 10 minutes: the closest fit' },
  ],
  defaultPreset: 'balanced',
  advanced: { steps: 240, learningRate: 2e-5, mu: 0.004, wholeNetwork: false },
};

const end = (fields: Partial<JobEnd>): JobEnd => ({
  jobId: 'job-1',
  kind: 'finetune',
  state: 'done',
  summary: '',
  errors: [],
  files: [],
  ...fields,
});

const point = (step: number, phase = 1): LossPoint => ({
  step,
  phase,
  reconstruction: 0.1 / step,
  adversarial: 0.7,
  discriminator: 0.69,
  discriminatorAccuracy: 0.5,
});

const progress = (fields: Partial<FinetuneProgress>): FinetuneProgress => ({
  jobId: 'job-run',
  runId: 'anna',
  stage: 'training',
  step: 1,
  totalSteps: 6,
  phase: 1,
  reconstruction: 0.1,
  adversarial: 0.7,
  discriminator: 0.69,
  discriminatorAccuracy: 0.5,
  etaSeconds: 5,
  points: [],
  message: '',
  ...fields,
});

function setup(handlers: Record<string, Handler> = {}) {
  const backend = fakeBackend({
    'finetune:presets': () => presets,
    'finetune:unfinished': () => ({ runs: [] }),
    'finetune:collect': () => ({ jobId: 'job-collect', faceSetId: 'set-1' }),
    'finetune:faceSet': () => withImages(summary()),
    'finetune:start': () => ({ jobId: 'job-run', runId: 'anna' }),
    'finetune:pause': () => ({ ok: true }),
    'finetune:resume': () => ({ jobId: 'job-run-2', runId: 'anna' }),
    'finetune:discard': () => ({ ok: true }),
    ...handlers,
  });
  const notices = new Notifications();
  let created = 0;
  const revoked: string[] = [];
  const state = new FinetuneState(backend.api, notices, {
    create: () => `blob:${++created}`,
    revoke: (url) => revoked.push(url),
  });
  return { state, notices, calls: backend.calls, revoked };
}

/** A state with a face set loaded, as after a finished collection. */
async function withFaceSet(handlers: Record<string, Handler> = {}) {
  const context = setup(handlers);
  await context.state.load();
  await context.state.collect({ kind: 'folder', folder: '/p', recursive: false });
  await context.state.jobEnded(end({ jobId: 'job-collect', kind: 'faces' }));
  return context;
}

describe('FinetuneState', () => {
  test('loads presets with the advanced values of the active model, and paused runs', async () => {
    const { state } = setup({
      'finetune:unfinished': () => ({
        runs: [{ runId: 'ben', name: 'Ben', stepsDone: 40, totalSteps: 120, jobId: null }],
      }),
    });
    await state.load();
    expect(state.preset).toBe('balanced');
    expect(state.advanced).toEqual({ steps: 240, learningRate: 2e-5, mu: 0.004, wholeNetwork: false });
    expect(state.unfinished.map((u) => u.runId)).toEqual(['ben']);
  });

  test('leaves the preset to the services until their presets arrive', async () => {
    const { state } = setup();
    expect(state.preset).toBeNull();
    expect(state.advanced).toBeNull();
    await state.collect({ kind: 'folder', folder: '/p', recursive: false });
    await state.jobEnded(end({ jobId: 'job-collect', kind: 'faces' }));
    state.name = 'Anna';
    state.advancedOpen = true;
    expect(state.startRequest()).toEqual({ faceSetId: 'set-1', name: 'Anna' });
  });

  test('collects faces, then loads the set with object URLs for the crops when the job ends', async () => {
    const { state, calls } = setup();
    await state.collect({ kind: 'person', folder: '/p', recursive: true, photo: '/p/a.jpg', faceId: 'face-2' });
    expect(state.collecting).toBe(true);
    expect(calls.at(-1)).toEqual({
      channel: 'finetune:collect',
      payload: { source: { folder: '/p', recursive: true }, person: { photo: '/p/a.jpg', faceId: 'face-2' } },
    });
    await state.jobEnded(end({ jobId: 'other', kind: 'batch' }));
    expect(state.faceSet).toBeNull();
    await state.jobEnded(end({ jobId: 'job-collect', kind: 'faces' }));
    expect(state.collecting).toBe(false);
    expect(state.faceSet?.faces.map((f) => f.url)).toEqual(['blob:1', 'blob:2']);
    expect(state.faceSet?.warnings[0]?.code).toBe('too-few-faces');
  });

  test('a failed or cancelled collection loads nothing', async () => {
    const { state, calls } = setup();
    await state.collect({ kind: 'selection', photos: ['/p/a.jpg'] });
    await state.jobEnded(end({ jobId: 'job-collect', kind: 'faces', state: 'failed', summary: 'no faces found' }));
    expect(state.collecting).toBe(false);
    expect(state.faceSet).toBeNull();
    expect(calls.map((c) => c.channel)).not.toContain('finetune:faceSet');
  });

  test('corrections go to the main process, and the crops stay', async () => {
    const { state, calls } = await withFaceSet({
      'finetune:relabel': (payload) => {
        const [change] = payload['changes'] as { file: string; smiling?: boolean; split?: string; exclude?: true }[];
        const set = summary();
        if (change!.exclude) set.faces = set.faces.filter((f) => f.file !== change!.file);
        set.faces = set.faces.map((f) =>
          f.file === change!.file
            ? {
                ...f,
                smiling: change!.smiling ?? f.smiling,
                split: (change!.split as 'train') ?? f.split,
                corrected: change!.smiling !== undefined,
              }
            : f,
        );
        return set;
      },
    });
    await state.setLabel('face-0001.png', true);
    expect(calls.filter((c) => c.channel === 'finetune:relabel')).toEqual([]);
    await state.setLabel('face-0001.png', false);
    expect(state.faceSet?.faces[0]).toMatchObject({ smiling: false, corrected: true, url: 'blob:1' });
    await state.toggleHoldout('face-0002.png');
    expect(calls.at(-1)?.payload['changes']).toEqual([{ file: 'face-0002.png', split: 'train' }]);
    await state.exclude('face-0001.png');
    expect(state.faceSet?.faces.map((f) => f.file)).toEqual(['face-0002.png']);
  });

  test('starts with the preset, or the advanced values while that section is open', async () => {
    const { state, calls } = await withFaceSet();
    expect(state.canStart).toBe(false);
    state.name = '  Anna ';
    expect(state.startRequest()).toEqual({ faceSetId: 'set-1', name: 'Anna', preset: 'balanced' });
    state.preset = 'quick';
    state.advancedOpen = true;
    state.advanced!.steps = 6;
    expect(state.startRequest()).toEqual({
      faceSetId: 'set-1',
      name: 'Anna',
      preset: 'quick',
      advanced: { steps: 6, learningRate: 2e-5, mu: 0.004, wholeNetwork: false },
    });
    await state.start();
    expect(calls.at(-1)?.channel).toBe('finetune:start');
    expect(state.run).toMatchObject({ runId: 'anna', jobId: 'job-run', state: 'running' });
    expect(state.runActive).toBe(true);
    expect(state.canStart).toBe(false);
  });

  test('a refused start shows the reason and leaves no run', async () => {
    const { state, notices } = await withFaceSet({
      'finetune:start': () => {
        throw new Error('a model called “Anna” exists already; choose another name');
      },
    });
    state.name = 'Anna';
    await state.start();
    expect(state.run).toBeNull();
    expect(notices.errors[0]?.message).toMatch(/^Starting the fine-tune: a model called “Anna” exists already/);
  });

  test('progress fills the chart, previews replace each other, and the end brings the profile', async () => {
    const profile = { id: 'anna', name: 'Anna', active: false, comparison: { faces: 2, base: null, tuned: {} } };
    const { state, revoked } = await withFaceSet({
      'models:list': () => ({ models: [{ id: 'default' }, profile] as unknown as ModelEntry[] }),
      'models:activate': () => ({ model: { ...profile, active: true } }),
    });
    state.name = 'Anna';
    await state.start();
    state.progress(progress({ runId: 'someone-else', step: 4 }));
    state.progress(progress({ step: 2, points: [point(1), point(2)] }));
    state.progress(progress({ step: 5, phase: 2, points: [point(3), point(4), point(5, 2)] }));
    expect(state.run).toMatchObject({ step: 5, phase: 2, totalSteps: 6 });
    expect(state.run?.points.map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);

    state.preview({ jobId: 'job-run', runId: 'anna', step: 0, image: new Uint8Array([1]), mime: 'image/png' });
    const first = state.run?.previewUrl;
    state.preview({ jobId: 'job-run', runId: 'anna', step: 6, image: new Uint8Array([2]), mime: 'image/png' });
    expect(state.run?.previewStep).toBe(6);
    expect(revoked).toContain(first);

    await state.jobEnded(end({ jobId: 'job-run', state: 'done', files: ['/data/models/anna.mien'] }));
    expect(state.run).toMatchObject({ state: 'finished', step: 6, profile: { id: 'anna' } });
    expect(state.runActive).toBe(false);
    await state.activateProfile();
    expect(state.run?.profile?.active).toBe(true);
  });

  test('pause ends the job as paused; resume continues the same run and chart', async () => {
    const { state, calls } = await withFaceSet();
    state.name = 'Anna';
    await state.start();
    state.progress(progress({ step: 3, points: [point(1), point(2), point(3)] }));
    await state.pause();
    expect(state.run?.state).toBe('pausing');
    expect(calls.at(-1)).toEqual({ channel: 'finetune:pause', payload: { runId: 'anna' } });
    await state.jobEnded(end({ jobId: 'job-run', state: 'cancelled', summary: 'Paused at step 3 of 6' }));
    expect(state.run).toMatchObject({ state: 'paused', jobId: null });
    await state.resume();
    expect(state.run).toMatchObject({ state: 'running', jobId: 'job-run-2', step: 3 });
    state.progress(progress({ jobId: 'job-run-2', step: 4, points: [point(4)] }));
    expect(state.run?.points.map((p) => p.step)).toEqual([1, 2, 3, 4]);
  });

  test('a failed run keeps its reason; discard clears it', async () => {
    const { state, calls } = await withFaceSet();
    state.name = 'Anna';
    await state.start();
    await state.jobEnded(end({ jobId: 'job-run', state: 'failed', summary: 'the fine-tune diverged at step 3' }));
    expect(state.run).toMatchObject({ state: 'failed', error: 'the fine-tune diverged at step 3' });
    expect(await state.discard('anna')).toBe(true);
    expect(calls.at(-1)).toEqual({ channel: 'finetune:discard', payload: { runId: 'anna', confirmed: true } });
    expect(state.run).toBeNull();
  });

  test('a paused run from an earlier session resumes from the list', async () => {
    const { state } = setup({
      'finetune:unfinished': () => ({
        runs: [{ runId: 'anna', name: 'Anna', stepsDone: 40, totalSteps: 120, jobId: null }],
      }),
    });
    await state.load();
    await state.resume('anna');
    expect(state.run).toMatchObject({ runId: 'anna', name: 'Anna', state: 'running', step: 40, totalSteps: 120 });
    expect(state.unfinished).toEqual([]);
  });

  test('a run still training when the screen loads (a reloaded window) is followed, not offered', async () => {
    const { state } = setup({
      'finetune:unfinished': () => ({
        runs: [
          { runId: 'anna', name: 'Anna', stepsDone: 20, totalSteps: 120, jobId: 'job-live' },
          { runId: 'ben', name: 'Ben', stepsDone: 40, totalSteps: 120, jobId: null },
        ],
      }),
    });
    await state.load();
    expect(state.run).toMatchObject({ runId: 'anna', jobId: 'job-live', state: 'running', step: 20 });
    expect(state.unfinished.map((u) => u.runId)).toEqual(['ben']);
    state.progress(progress({ jobId: 'job-live', step: 21, points: [point(21)] }));
    expect(state.run?.step).toBe(21);
  });

  test('reset revokes the crops and forgets the run', async () => {
    const { state, revoked } = await withFaceSet();
    state.reset();
    expect(state.faceSet).toBeNull();
    expect(revoked).toEqual(expect.arrayContaining(['blob:1', 'blob:2']));
  });
});

describe('fine-tune helpers', () => {
  test('points merge after the old ones; a history replaces what it overlaps', () => {
    expect(mergePoints([point(1), point(2)], [point(3)]).map((p) => p.step)).toEqual([1, 2, 3]);
    expect(mergePoints([point(1), point(2), point(3)], [point(2), point(10)]).map((p) => p.step)).toEqual([1, 2, 10]);
    expect(mergePoints([point(1)], [])).toHaveLength(1);
  });

  test('sources become collect requests', () => {
    expect(collectRequest({ kind: 'folder', folder: '/p', recursive: true })).toEqual({
      source: { folder: '/p', recursive: true },
    });
    expect(collectRequest({ kind: 'selection', photos: ['/p/a.jpg'] })).toEqual({ source: { photos: ['/p/a.jpg'] } });
  });
});
