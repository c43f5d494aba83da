import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import {
  readCheckpoint,
  readCheckpointHeader,
  writeCheckpoint,
  type Checkpoint,
} from '../../src-main/core/model/checkpoint.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { phaseAt } from '../../src-main/core/training/schedule.js';
import {
  checkpointFileName,
  resumeTraining,
  startTraining,
  type RunSettings,
  type TrainingEvent,
  type TrainingResult,
} from '../../src-main/core/training/trainer.js';
import { largestDifference } from '../helpers/arrays.js';
import { faceImages, faceLabels, smallRun } from '../helpers/faces.js';

const temporaryRun = () => mkdtemp(path.join(os.tmpdir(), 'mien-run-'));

/** Copies the first n real faces into dir; returns CSV rows (header first) labelling them alternately. */
async function copyFaces(dir: string, count: number): Promise<string[]> {
  const rows = ['file,smiling'];
  for (let i = 1; i <= count; i++) {
    const name = `${String(i).padStart(6, '0')}.jpg`;
    await copyFile(path.join(faceImages, name), path.join(dir, name));
    rows.push(`${name},${i % 2}`);
  }
  return rows;
}

/** Starts a run in `dir` and cancels it once it has done `steps` steps. */
function trainUntil(dir: string, settings: RunSettings, steps: number): Promise<TrainingResult> {
  const controller = new AbortController();
  return startTraining(dir, settings, {
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === 'progress' && e.step === steps) controller.abort();
    },
  });
}

/** Each tensor of `a` that `include` picks differs from b's by less than `tolerance`. */
function expectSameTensors(a: Checkpoint, b: Checkpoint, tolerance: number, include = (_name: string) => true): void {
  for (const [name, tensor] of a.tensors) {
    if (include(name))
      expect(largestDifference(tensor.values, b.tensors.get(name)!.values), name).toBeLessThan(tolerance);
  }
}

beforeAll(async () => {
  await selectBackend('wasm');
});

describe('schedule', () => {
  it('walks the three phases with the paper mu values and a decayed learning rate', () => {
    const schedule = smallRun().schedule;
    expect(phaseAt(schedule, 0)).toMatchObject({ phase: 1, mu: 0, learningRate: 5e-4 });
    expect(phaseAt(schedule, 4)).toMatchObject({ phase: 2, mu: 1e-4 });
    expect(phaseAt(schedule, 4).learningRate).toBeCloseTo(5e-5);
    expect(phaseAt(schedule, 9)).toMatchObject({ phase: 3, mu: 0.01 });
    expect(phaseAt({ ...schedule, muRampSteps: 2 }, 4).mu).toBeCloseTo(5e-5);
  });
});

describe('training on real faces', () => {
  it('lowers the reconstruction loss and writes a loadable model', async () => {
    const runDir = await temporaryRun();
    const events: TrainingEvent[] = [];
    const result = await startTraining(
      runDir,
      smallRun({
        data: { ...smallRun().data, limit: 192 },
        schedule: { ...smallRun().schedule, phaseSteps: [24, 8, 8] },
        batchSize: 16,
        checkpointEvery: 20,
        logEvery: 8,
      }),
      { onEvent: (e) => events.push(e) },
    );
    expect(result.status).toBe('finished');
    expect(result.images).toBe(192);
    const first = result.curve[0]!.reconstruction;
    const last = result.curve.at(-1)!.reconstruction;
    expect(last).toBeLessThan(first * 0.8);
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress).toHaveLength(40);
    expect(progress.map((p) => p.phase)).toContain(3);
    for (const p of progress) {
      expect(p.imagesPerSecond).toBeGreaterThan(0);
      expect(p.discriminatorAccuracy).toBeGreaterThanOrEqual(0);
      expect(p.discriminatorAccuracy).toBeLessThanOrEqual(1);
    }
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => (e as { step: number }).step)).toEqual([20, 40]);
    const model = await ExpressionModel.load(result.model!, { preset: 'paper', size: 64 });
    expect(model.meta['trainedSteps']).toBe(40);
    model.dispose();
  });

  it('resumes a cancelled run to exactly the weights of an uninterrupted one', async () => {
    const settings = smallRun();
    const straight = await temporaryRun();
    await startTraining(straight, settings);

    const interrupted = await temporaryRun();
    const first = await trainUntil(interrupted, settings, 5);
    expect(first).toMatchObject({ status: 'cancelled', stepsDone: 5 });
    const events: TrainingEvent[] = [];
    const second = await resumeTraining(interrupted, { onEvent: (e) => events.push(e) });
    expect(second).toMatchObject({ status: 'finished', stepsDone: 10 });
    expect(events.find((e) => e.type === 'ready')).toMatchObject({ resumedFrom: 5 });

    const a = await readCheckpoint(path.join(straight, 'model.mien'));
    const b = await readCheckpoint(path.join(interrupted, 'model.mien'));
    expectSameTensors(a, b, 1e-5);
    // The same learning curve, to float rounding (Adam's bias terms are recomputed on resume).
    const curveA = a.header.meta['curve'] as Record<string, number>[];
    const curveB = b.header.meta['curve'] as Record<string, number>[];
    expect(curveB.map((p) => p['step'])).toEqual(curveA.map((p) => p['step']));
    curveA.forEach((point, i) => {
      for (const [key, value] of Object.entries(point)) expect(curveB[i]![key]).toBeCloseTo(value, 5);
    });
  });

  it('survives SIGKILL: resumes from the last checkpoint, losing at most the checkpoint interval', async () => {
    const runDir = await temporaryRun();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/train-until-killed.ts', runDir, '1000'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const killedAfter = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const steps = [...chunk.toString().matchAll(/checkpoint (\d+)/g)].map((m) => Number(m[1]));
        if (steps.some((s) => s >= 4)) {
          child.kill('SIGKILL');
          resolve(Math.max(...steps));
        }
      });
      child.on('exit', (code, signal) => {
        if (signal !== 'SIGKILL') reject(new Error(`child exited early (${code})`));
      });
    });
    const header = await readCheckpointHeader(path.join(runDir, checkpointFileName));
    const saved = header.meta['step'] as number;
    expect(saved).toBeGreaterThanOrEqual(killedAfter);
    const events: TrainingEvent[] = [];
    const controller = new AbortController();
    const result = await resumeTraining(runDir, {
      signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'progress' && e.step >= saved + 2) controller.abort();
      },
    });
    expect(events.find((e) => e.type === 'ready')).toMatchObject({ resumedFrom: saved });
    expect(result).toMatchObject({ status: 'cancelled', stepsDone: saved + 2 });
  });
});

describe('the expression loss', () => {
  it('trains its classifier once, keeps it in checkpoints only, and resumes to the uninterrupted weights', async () => {
    const settings = smallRun({
      schedule: { ...smallRun().schedule, expressionWeight: [0, 0.05, 0.05] },
      classifierSteps: 4,
    });
    const straight = await temporaryRun();
    const straightEvents: TrainingEvent[] = [];
    await startTraining(straight, settings, { onEvent: (e) => straightEvents.push(e) });
    expect(straightEvents.filter((e) => e.type === 'classifier').length).toBeGreaterThan(0);
    const progress = straightEvents.filter((e) => e.type === 'progress');
    expect(progress.find((p) => p.phase === 1)!.expression).toBe(0);
    expect(progress.find((p) => p.phase === 3)!.expression).toBeGreaterThan(0);

    const interrupted = await temporaryRun();
    await trainUntil(interrupted, settings, 5);
    const saved = await readCheckpoint(path.join(interrupted, checkpointFileName));
    expect([...saved.tensors.keys()].filter((name) => name.startsWith('classifier.')).length).toBeGreaterThan(0);
    const events: TrainingEvent[] = [];
    await resumeTraining(interrupted, { onEvent: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'classifier')).toEqual([]);

    // The resumed run used the very classifier the run started with.
    const straightState = await readCheckpoint(path.join(straight, checkpointFileName));
    const resumedState = await readCheckpoint(path.join(interrupted, checkpointFileName));
    for (const [name, tensor] of straightState.tensors) {
      if (name.startsWith('classifier.')) expect(resumedState.tensors.get(name)!.values, name).toEqual(tensor.values);
    }
    const a = await readCheckpoint(path.join(straight, 'model.mien'));
    const b = await readCheckpoint(path.join(interrupted, 'model.mien'));
    expect([...a.tensors.keys()].some((name) => name.startsWith('classifier.'))).toBe(false);
    // Float rounding of Adam's recomputed bias terms, which the classifier's gradients amplify a little.
    expectSameTensors(a, b, 2e-4);
  });

  it("takes another run's classifier instead of training one, and names a file that holds none", async () => {
    const settings = smallRun({
      schedule: { ...smallRun().schedule, expressionWeight: [0, 0.05, 0.05] },
      classifierSteps: 4,
    });
    const first = await temporaryRun();
    await startTraining(first, settings);
    const second = await temporaryRun();
    const events: TrainingEvent[] = [];
    const classifierFrom = path.join(first, checkpointFileName);
    await startTraining(second, { ...settings, classifierFrom }, { onEvent: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'classifier')).toEqual([]);
    const given = await readCheckpoint(classifierFrom);
    const used = await readCheckpoint(path.join(second, checkpointFileName));
    const names = [...given.tensors.keys()].filter((name) => name.startsWith('classifier.'));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(used.tensors.get(name)!.values, name).toEqual(given.tensors.get(name)!.values);

    // A released model keeps no classifier.
    const modelFile = path.join(first, 'model.mien');
    await expect(startTraining(await temporaryRun(), { ...settings, classifierFrom: modelFile })).rejects.toThrow(
      /model\.mien.*holds no expression classifier/,
    );
  });

  it('stops while its classifier trains, keeping nothing in memory', async () => {
    const settings = smallRun({
      schedule: { ...smallRun().schedule, expressionWeight: [0, 0.05, 0.05] },
      classifierSteps: 100,
    });
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const result = await startTraining(await temporaryRun(), settings, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'classifier') controller.abort();
      },
    });
    expect(result).toMatchObject({ status: 'cancelled', stepsDone: 0 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the realism loss', () => {
  it('trains its critic with the run, keeps it in checkpoints only, and resumes to the uninterrupted weights', async () => {
    const settings = smallRun({ schedule: { ...smallRun().schedule, realismWeight: [0, 0.01, 0.01] } });
    const straight = await temporaryRun();
    const straightEvents: TrainingEvent[] = [];
    await startTraining(straight, settings, { onEvent: (e) => straightEvents.push(e) });
    const progress = straightEvents.filter((e) => e.type === 'progress');
    expect(progress.find((p) => p.phase === 1)!.realism).toBe(0);
    expect(progress.find((p) => p.phase === 3)!.realism).toBeGreaterThan(0);
    expect(progress.find((p) => p.phase === 3)!.critic).toBeGreaterThan(0);

    const interrupted = await temporaryRun();
    await trainUntil(interrupted, settings, 6);
    const saved = await readCheckpoint(path.join(interrupted, checkpointFileName));
    const criticNames = [...saved.tensors.keys()].filter((name) => name.startsWith('critic.'));
    expect(criticNames.length).toBeGreaterThan(0);
    expect([...saved.tensors.keys()].some((name) => name.startsWith('optimizer.critic.'))).toBe(true);
    await resumeTraining(interrupted);

    const a = await readCheckpoint(path.join(straight, checkpointFileName));
    const b = await readCheckpoint(path.join(interrupted, checkpointFileName));
    expectSameTensors(a, b, 2e-4, (name) => name.startsWith('critic.') || name.startsWith('decoder.'));
    const model = await readCheckpoint(path.join(straight, 'model.mien'));
    expect([...model.tensors.keys()].some((name) => name.startsWith('critic.'))).toBe(false);
  });

  it('refuses to resume a run whose checkpoint lost its critic, naming the file', async () => {
    const settings = smallRun({ schedule: { ...smallRun().schedule, realismWeight: [0, 0.01, 0.01] } });
    const run = await temporaryRun();
    await trainUntil(run, settings, 2);
    const file = path.join(run, checkpointFileName);
    const saved = await readCheckpoint(file);
    const { kind, config, meta } = saved.header;
    await writeCheckpoint(file, {
      kind,
      config,
      meta,
      tensors: [...saved.tensors.values()].filter((t) => !t.name.startsWith('critic.')),
    });
    await expect(resumeTraining(run)).rejects.toThrow(/checkpoint\.mien.*realism critic/);
  });
});

describe('bad training input', () => {
  it('names the missing label column and the columns there are', async () => {
    await expect(
      startTraining(await temporaryRun(), smallRun({ data: { ...smallRun().data, labelColumn: 'Grinning' } })),
    ).rejects.toThrow(/Grinning[\s\S]*smiling/);
  });

  it('refuses to train the decoder alone without a model whose encoder it keeps', async () => {
    await expect(startTraining(await temporaryRun(), smallRun({ trained: 'decoder' }))).rejects.toThrow(
      /decoder alone needs an initial model/,
    );
  });

  it('skips unreadable images, counts them, and trains on the rest', async () => {
    const dir = await temporaryRun();
    const rows = await copyFaces(dir, 20);
    await writeFile(path.join(dir, 'broken.jpg'), 'not an image');
    rows.push('broken.jpg,1', 'missing.jpg,0');
    await writeFile(path.join(dir, 'labels.csv'), rows.join('\n'));
    const result = await startTraining(
      path.join(dir, 'run'),
      smallRun({
        data: { imagesDir: dir, labelsCsv: path.join(dir, 'labels.csv'), labelColumn: 'smiling' },
        schedule: { ...smallRun().schedule, phaseSteps: [2, 0, 0] },
      }),
    );
    expect(result).toMatchObject({ status: 'finished', images: 20, skipped: 2 });
  });

  it('stops a diverging run with a clear message and keeps the last good checkpoint', async () => {
    const runDir = await temporaryRun();
    const settings = smallRun({
      schedule: { ...smallRun().schedule, learningRate: 1e35, phaseSteps: [40, 0, 0] },
      checkpointEvery: 1,
    });
    await expect(startTraining(runDir, settings)).rejects.toThrow(/diverged at step \d+[\s\S]*last good checkpoint/);
    const checkpoint = await readCheckpoint(path.join(runDir, checkpointFileName));
    for (const tensor of checkpoint.tensors.values()) expect(tensor.values.every(Number.isFinite)).toBe(true);
    expect(tf.memory().numTensors).toBeLessThan(1000);
  });

  it('refuses to resume when the data changed, or to start over an existing run', async () => {
    const dir = await temporaryRun();
    const rows = await copyFaces(dir, 8);
    await writeFile(path.join(dir, 'labels.csv'), rows.join('\n'));
    const runDir = path.join(dir, 'run');
    const settings = smallRun({
      data: { imagesDir: dir, labelsCsv: path.join(dir, 'labels.csv'), labelColumn: 'smiling' },
    });
    const controller = new AbortController();
    await startTraining(runDir, settings, {
      signal: controller.signal,
      onEvent: (e) => e.type === 'progress' && controller.abort(),
    });
    await expect(startTraining(runDir, settings)).rejects.toThrow(/already holds a training run/);
    await writeFile(
      path.join(dir, 'labels.csv'),
      rows.map((r, i) => (i === 2 ? r.replace(/,0$/, ',1') : r)).join('\n'),
    );
    await expect(resumeTraining(runDir)).rejects.toThrow(/training data changed/);
    expect((await readFile(faceLabels, 'utf8')).startsWith('file,smiling')).toBe(true);
  });
});
