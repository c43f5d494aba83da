import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readCheckpointHeader } from '../../src-main/core/model/checkpoint.js';
import { faceImages, faceLabels } from '../helpers/faces.js';

const run = promisify(execFile);

/** Runs the command line from source, as `npx mien` runs its build. */
function mien(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return mienWith({}, ...args);
}

async function mienWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src-main/cli/mien.ts', ...args], {
      env: { ...process.env, MIEN_BACKEND: 'wasm', ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('mien command line', () => {
  it('info --json names the backend and counts both presets', async () => {
    const { code, stdout } = await mien('--json', 'info');
    expect(code).toBe(0);
    const info = JSON.parse(stdout);
    expect(info.backend.choice).toBe('wasm');
    expect(info.presets.map((p: { preset: string }) => p.preset)).toEqual(['paper', 'fader']);
    const paper256 = info.presets[0].sizes.find((s: { size: number }) => s.size === 256);
    expect(paper256.autoencoder).toBeGreaterThan(5.5e6);
  });

  it('runs WebAssembly on every core, or on the threads MIEN_THREADS allows', async () => {
    const cores = Math.min(os.availableParallelism(), 8);
    const all = JSON.parse((await mienWith({ MIEN_THREADS: '' }, '--json', 'info')).stdout);
    expect(all.backend.threads).toBe(cores);
    const one = JSON.parse((await mienWith({ MIEN_THREADS: '1' }, '--json', 'info')).stdout);
    expect(one.backend).toMatchObject({ threads: 1, label: 'WebAssembly (XNNPACK)' });
    // Where the pool's scripts cannot be written (the temporary folder is under a file), the single-threaded
    // build runs. tsx, which runs the command from source, would otherwise keep its cache there.
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'mien-cli-')), 'a-file');
    await writeFile(file, '');
    const noTemp = await mienWith(
      { MIEN_THREADS: '', TMPDIR: path.join(file, 'tmp'), TSX_DISABLE_CACHE: '1' },
      '--json',
      'info',
    );
    expect(JSON.parse(noTemp.stdout).backend).toMatchObject({ choice: 'wasm', threads: 1 });
    expect(noTemp.stderr).toMatch(/did not start; running on one thread/);
  });

  it('train --json prints one result object and JSON progress lines', async () => {
    const out = path.join(await mkdtemp(path.join(os.tmpdir(), 'mien-cli-')), 'run');
    const args = ['--images', faceImages, '--labels', faceLabels, '--split', 'train', '--limit', '16'];
    const { code, stdout, stderr } = await mien(
      '--json',
      'train',
      ...args,
      '--steps',
      '2,1,1',
      '--batch',
      '4',
      '--out',
      out,
    );
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({
      status: 'finished',
      stepsDone: 4,
      totalSteps: 4,
      images: 16,
      runDir: out,
      resumable: true,
    });
    const progress = stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((line) => line.progress === 'training');
    expect(progress.at(-1)).toMatchObject({ done: 4, total: 4 });
    const resumed = await mien('--json', 'resume', out);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'finished', stepsDone: 4 });

    // A new schedule that starts from the finished run's weights, e.g. a stronger mu.
    const from = path.join(out, 'model.mien');
    const next = path.join(path.dirname(out), 'next');
    /** One step from a model's weights, with a new schedule. */
    const trainFrom = (init: string, runDir: string, ...more: string[]) =>
      mien('--json', 'train', ...args, '--steps', '0,0,1', '--batch', '4', '--init', init, '--out', runDir, ...more);
    const stronger = ['--realism', '0,0,0.01', '--critic-lr-factor', '4'];
    const replay = ['--discriminator-steps', '2', '--discriminator-memory', '3'];
    const continued = await trainFrom(from, next, ...stronger, ...replay);
    expect(continued.code).toBe(0);
    const model = await readCheckpointHeader(JSON.parse(continued.stdout).model);
    expect(model.meta['initialModel']).toBe(from);
    expect(model.meta['schedule']).toMatchObject({
      realismWeight: [0, 0, 0.01],
      criticRateFactor: 4,
      discriminatorReplay: { steps: 2, memory: 3 },
    });
    expect(continued.stderr).toMatch(/"critic":"\d/);

    // Released: float16 weights, a manifest entry, and a training record that reaches back to the first run.
    const models = path.join(path.dirname(out), 'models');
    const metrics = path.join(path.dirname(out), 'eval.json');
    await writeFile(metrics, JSON.stringify({ n: 3, smileOnSuccess: 0.5, note: 'not a number' }));
    const released = await mien(
      '--json',
      'release',
      path.join(next, 'checkpoint.mien'),
      '--out',
      path.join(models, 'tiny.mien'),
      '--name',
      'Tiny',
      '--metrics',
      metrics,
    );
    expect(released.code).toBe(0);
    const shipped = await readCheckpointHeader(path.join(models, 'tiny.mien'));
    expect(shipped.kind).toBe('model');
    expect(shipped.tensors.every((t) => t.dtype === 'float16')).toBe(true);
    expect(shipped.meta).toMatchObject({ name: 'Tiny', trainingSteps: 1, metrics: { n: 3, smileOnSuccess: 0.5 } });
    const manifest = JSON.parse(await readFile(path.join(models, 'manifest.json'), 'utf8'));
    expect(JSON.stringify(manifest)).toContain('tiny.mien');
    const record = JSON.parse(await readFile(path.join(models, 'tiny.training.json'), 'utf8'));
    expect(record).toMatchObject({ step: 1, startedFrom: [{ file: from, step: 4 }] });

    // A run from the released model, released over it: the record keeps the whole history.
    const tiny = path.join(models, 'tiny.mien');
    const third = path.join(path.dirname(out), 'third');
    const again = await trainFrom(tiny, third);
    expect(again.code).toBe(0);
    expect((await mien('--json', 'release', path.join(third, 'checkpoint.mien'), '--out', tiny)).code).toBe(0);
    const history = JSON.parse(await readFile(path.join(models, 'tiny.training.json'), 'utf8'));
    expect(history).toMatchObject({
      step: 1,
      startedFrom: [
        { file: from, step: 4 },
        { file: tiny, step: 1 },
      ],
    });

    // A model of another preset cannot start the run (a smaller paper model would be grown to its size).
    const otherPreset = await mien(
      '--json',
      'train',
      ...args,
      '--preset',
      'fader',
      '--init',
      from,
      '--out',
      `${next}-fader`,
    );
    expect(otherPreset.code).toBe(1);
    expect(otherPreset.stderr).toContain(from);
    expect(otherPreset.stderr).toMatch(/is a paper model, expected fader/);
  });

  it('train stopped before its first checkpoint says there is nothing to resume', async () => {
    const out = path.join(await mkdtemp(path.join(os.tmpdir(), 'mien-cli-')), 'run');
    const train = ['--images', faceImages, '--labels', faceLabels, '--split', 'train', '--limit', '16', '--batch', '4'];
    // The expression loss's classifier trains first, far longer than the test waits.
    const classifier = ['--steps', '0,0,2', '--expression', '0,0,0.05', '--classifier-steps', '100000'];
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src-main/cli/mien.ts', '--json', 'train', ...train, ...classifier, '--out', out],
      { env: { ...process.env, MIEN_BACKEND: 'wasm' } },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // Once: a second Ctrl-C quits at once, as it should.
      if (stderr.includes('training the expression classifier') && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'cancelled', stepsDone: 0, resumable: false });
  });

  it('bench --json has an entry per preset and size with the fields scripts read', async () => {
    const { code, stdout } = await mien('--json', 'bench', '--sizes', '64', '--batch', '2', '--repeats', '1');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.entries).toHaveLength(2);
    for (const entry of report.entries) {
      for (const key of ['params', 'trainMsPerImage', 'forwardMsPerImage', 'inferMsPerImage']) {
        expect(entry[key], key).toBeGreaterThan(0);
      }
    }
    expect(report.comparisons[0].size).toBe(64);
    expect(report.comparisons[0].paramsRatio).toBeCloseTo(report.entries[0].params / report.entries[1].params);
  });

  it('probe --json reports how well a fresh classifier reads the label from the codes', async () => {
    const { code, stdout } = await mien(
      '--json',
      'probe',
      '--images',
      faceImages,
      '--labels',
      faceLabels,
      '--train-faces',
      '64',
      '--test-faces',
      '32',
      '--steps',
      '20',
    );
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ trainFaces: 64, testFaces: 32 });
    for (const key of ['chance', 'probeAccuracy', 'discriminatorAccuracy']) {
      expect(report[key], key).toBeGreaterThanOrEqual(0);
      expect(report[key], key).toBeLessThanOrEqual(1);
    }
    expect(report.chance).toBeGreaterThanOrEqual(0.5);
    // CelebA's other attributes: the one that alone tells the smile best on the same faces.
    const header = (await readFile(faceLabels, 'utf8')).split('\n')[0]!.split(',');
    expect(header).toContain(report.strongestColumn.column);
    expect(report.strongestColumn.column).not.toBe('smiling');
    expect(report.strongestColumn.accuracy).toBeGreaterThanOrEqual(0.5);
    // Its groups (0s and 1s) hold every test face.
    const groups: { faces: number }[] = report.strongestColumn.groups;
    expect(groups.reduce((sum, g) => sum + g.faces, 0)).toBe(32);
  });

  it('rejects bad arguments and bad data with a clear message and exit code 1', async () => {
    const badSize = await mien('train', '--images', faceImages, '--labels', faceLabels, '--size', '65');
    expect(badSize.code).toBe(1);
    expect(badSize.stderr).toMatch(/--size.*expected one of 64, 128, 256/);
    const badJudged = await mien('train', '--images', faceImages, '--labels', faceLabels, '--expression-on', 'crop');
    expect(badJudged.code).toBe(1);
    expect(badJudged.stderr).toMatch(/--expression-on.*'crop' is invalid\. Allowed choices are decode, edit/);
    const badWhere = await mien(
      'eval',
      '--images',
      faceImages,
      '--labels',
      faceLabels,
      '--where',
      'Mouth_Slightly_Open',
    );
    expect(badWhere.code).toBe(1);
    expect(badWhere.stderr).toMatch(/--where.*expected COLUMN=VALUE/);
    const badHandover = await mien('grid', '--photos', faceImages, '--out', 'grid.png', '--handover', '50,20');
    expect(badHandover.code).toBe(1);
    expect(badHandover.stderr).toMatch(/--handover.*expected two levels, the second above the first/);
    const trainWith = (columns: string) =>
      mien('train', '--images', faceImages, '--labels', faceLabels, '--label-with', columns);
    const badColumns = await trainWith('Mouth_Slightly_Open,');
    expect(badColumns.code).toBe(1);
    expect(badColumns.stderr).toMatch(/--label-with.*expected column names separated by commas/);
    const out = await mkdtemp(path.join(os.tmpdir(), 'mien-cli-'));
    const badDetector = await mien('batch', out, '--out', path.join(out, 'edited'), '--detector', 'quick');
    expect(badDetector.code).toBe(1);
    expect(badDetector.stderr).toMatch(/--detector.*'quick' is invalid\. Allowed choices are accurate, fast/);
    const missing = await mien('--json', 'resume', path.join(os.tmpdir(), 'no-such-run'));
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).error).toMatch(/checkpoint\.mien: file not found/);
  });
});
