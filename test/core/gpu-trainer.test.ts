import * as tf from '@tensorflow/tfjs';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { faceImages, faceLabels } from '../helpers/faces.js';

/*
 * bench/reference/train_gpu.py trains the same network in PyTorch on a GPU. Its models
 * only help if they are this network: these tests hold the two to the same
 * outputs, in both directions of the file format, and run the script end to
 * end on a few faces (on the CPU).
 */

const run = promisify(execFile);
const script = path.resolve('bench/reference/train_gpu.py');
const defaultModel = path.resolve('resources/models/default.mien');

/** The first Python that imports torch: Debian's (`apt-get install -y python3-torch`) or the one in PATH. */
function pythonWithTorch(): string {
  for (const candidate of [process.env.MIEN_TORCH_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!candidate) continue;
    try {
      execFileSync(candidate, ['-c', 'import torch'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  throw new Error('no Python with PyTorch for the GPU trainer tests: apt-get install -y python3-torch');
}

/**
 * Writes a random network of each size as a float32 model, a seeded input
 * batch, and the script's outputs for both, and its outputs for the shipped
 * model read by its own reader.
 */
const parityScript = `
import json, sys
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
from mien_torch import PaperNetwork, read_mien, write_mien
folder, shipped = sys.argv[2], sys.argv[3]
torch.manual_seed(5)
def outputs(net, x, labels):
    with torch.no_grad():
        z = net.encode(x)
        return dict(decoded=net.decode(z, labels).permute(0, 2, 3, 1).flatten().tolist(),
                    logits=net.discriminate(z).flatten().tolist())
result = {}
for size in (64, 128):
    net = PaperNetwork(size)
    x = torch.rand(2, 3, size, size) * 2 - 1
    x.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32).tofile(f"{folder}/x{size}.f32")
    write_mien(f"{folder}/random{size}.mien", size, "smiling", {}, net.named_tensors(), half=False)
    result[str(size)] = outputs(net, x, torch.tensor([0.3, 1.4]))
net = PaperNetwork(64)
net.load_named(read_mien(shipped)[1])
x = torch.from_numpy(np.fromfile(f"{folder}/x64.f32", dtype=np.float32).reshape(2, 64, 64, 3)).permute(0, 3, 1, 2)
result["shipped"] = outputs(net, x, torch.tensor([0.0, 1.0]))
json.dump(result, open(f"{folder}/outputs.json", "w"))
`;

interface Outputs {
  decoded: number[];
  logits: number[];
}

function largestDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i]! - b[i]!));
  return largest;
}

/** Our network's outputs for the same model file and inputs, in its inference or training form. */
function ourOutputs(model: ExpressionModel, x: Float32Array, labels: number[], training: boolean) {
  const size = model.config.size;
  return tf.tidy(() => {
    const z = model.network.encode(tf.tensor4d(x, [2, size, size, 3]), training);
    return {
      decoded: model.network.decode(z, tf.tensor1d(labels), training).dataSync(),
      logits: model.network.discriminate(z).dataSync(),
    };
  });
}

describe('the GPU trainer (bench/reference/train_gpu.py)', () => {
  let python: string;
  let folder: string;

  beforeAll(async () => {
    await selectBackend('wasm');
    python = pythonWithTorch();
    folder = await mkdtemp(path.join(os.tmpdir(), 'mien-gpu-trainer-'));
  });

  it('is the same network: its models give our outputs, and it reads ours as we do', async () => {
    await run(python, ['-c', parityScript, path.dirname(script), folder, defaultModel]);
    const theirs = JSON.parse(await readFile(path.join(folder, 'outputs.json'), 'utf8')) as Record<string, Outputs>;
    const input = async (size: number) => new Float32Array((await readFile(path.join(folder, `x${size}.f32`))).buffer);
    const cases = [
      { key: '64', file: path.join(folder, 'random64.mien'), size: 64, labels: [0.3, 1.4] },
      { key: '128', file: path.join(folder, 'random128.mien'), size: 128, labels: [0.3, 1.4] },
      { key: 'shipped', file: defaultModel, size: 64, labels: [0, 1] },
    ];
    for (const { key, file, size, labels } of cases) {
      const model = await ExpressionModel.load(file);
      const x = await input(size);
      for (const training of [false, true]) {
        const ours = ourOutputs(model, x, labels, training);
        expect(largestDifference(ours.decoded, theirs[key]!.decoded), `${key} decoded`).toBeLessThan(1e-5);
        expect(largestDifference(ours.logits, theirs[key]!.logits), `${key} logits`).toBeLessThan(1e-5);
      }
      // A random network's output is not flat: the comparison above compares something.
      const decoded = theirs[key]!.decoded;
      expect(Math.max(...decoded) - Math.min(...decoded)).toBeGreaterThan(0.1);
      model.network.dispose();
    }
  });

  it("penalises the critic's input gradient on real faces (R1) by its squared norm per face", async () => {
    // Central differences along each face's own gradient give that gradient's norm, independently of autograd.
    const check = `
import json, sys
import torch
sys.path.insert(0, sys.argv[1])
from mien_torch import Critic
torch.manual_seed(3)
critic = Critic().double()
faces = torch.rand(4, 3, 64, 64, dtype=torch.float64) * 2 - 1
labels = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
penalty = critic.r1_penalty(faces, labels)
moved = faces.clone().requires_grad_(True)
(gradient,) = torch.autograd.grad(critic(moved, labels).sum(), moved)
squares = []
with torch.no_grad():
    for i in range(len(faces)):
        step = torch.zeros_like(faces)
        step[i] = 1e-4 * gradient[i] / gradient[i].norm()
        slope = (critic(faces + step, labels)[i].sum() - critic(faces - step, labels)[i].sum()) / 2e-4
        squares.append(slope.item() ** 2)
penalty.backward()
reach = sum(p.grad.abs().sum().item() for p in critic.parameters() if p.grad is not None)
print(json.dumps(dict(penalty=penalty.item(), differences=sum(squares) / len(squares), reach=reach)))
`;
    const { stdout } = await run(python, ['-c', check, path.dirname(script)]);
    const { penalty, differences, reach } = JSON.parse(stdout) as {
      penalty: number;
      differences: number;
      reach: number;
    };
    expect(penalty).toBeGreaterThan(1e-3);
    expect(Math.abs(penalty - differences) / differences).toBeLessThan(1e-6);
    // The penalty trains the critic: its gradient reaches the weights.
    expect(reach).toBeGreaterThan(0);
  });

  it('trains on real faces, writes models, snapshots, picture sheets and a learning curve that we load, and resumes', async () => {
    // A few faces of each split, so that the run takes seconds on a CPU.
    const [header, ...rows] = (await readFile(faceLabels, 'utf8')).trim().split('\n');
    const split = header!.split(',').indexOf('split');
    const pick = (name: string, count: number) => rows.filter((r) => r.split(',')[split] === name).slice(0, count);
    const labels = path.join(folder, 'labels.csv');
    // One row whose image is missing: skipped and counted, as our trainer does.
    const missing = pick('train', 1)[0]!.replace(/^[^,]+/, 'missing.jpg');
    await writeFile(labels, [header, ...pick('train', 48), missing, ...pick('test', 16)].join('\n') + '\n');
    const out = path.join(folder, 'run.mien');
    const log = path.join(folder, 'run.jsonl');
    const train = (seconds: number, ...more: string[]) =>
      run(python, [
        script,
        ...['--images', faceImages, '--labels', labels, '--seconds', String(seconds), '--batch', '8'],
        ...['--classifier-steps', '4', '--test-faces', '16', '--adversary-from', '0.1', '--edit-from', '0.2'],
        ...['--snapshots', '0.1', '--out', out, '--log', log, ...more],
      ]);
    const readCurve = async () =>
      (await readFile(log, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    await train(6, '--r1', '1');
    const curve = await readCurve();
    expect(curve[0]).toMatchObject({ loaded: 48, test: 16, skipped: 1 });
    const final = curve.at(-1)!.final as { step: number; test_psnr: number };
    expect(final.step).toBeGreaterThan(0);
    expect(Number.isFinite(final.test_psnr)).toBe(true);
    for (const file of [out, path.join(folder, 'run-10.mien')]) {
      const model = await ExpressionModel.load(file);
      expect(model.config).toEqual({ preset: 'paper', size: 64, attribute: 'smiling' });
      expect(model.meta.source).toBe('bench/reference/train_gpu.py');
      model.network.dispose();
    }
    const model = await ExpressionModel.load(out);
    expect(model.meta.trainingSteps).toBe(final.step);
    model.network.dispose();
    // Resumed with a longer budget, the run goes on from its saved step and time, not from the start.
    await train(9, '--resume');
    const resumed = (await readCurve()).slice(curve.length);
    expect(resumed[0]).toMatchObject({ loaded: 48 });
    expect(resumed.find((entry) => 'resumed' in entry)).toMatchObject({ resumed: final.step });
    expect(resumed.some((entry) => 'classifier_step' in entry)).toBe(false);
    const longer = resumed.at(-1)!.final as { step: number; seconds: number };
    expect(longer.step).toBeGreaterThan(final.step);
    expect(longer.seconds).toBeGreaterThanOrEqual(9);
    const continued = await ExpressionModel.load(out);
    expect(continued.meta.trainingSteps).toBe(longer.step);
    continued.network.dispose();
    // A damaged model to start from, or no state to resume, is refused with the file's name.
    const damaged = path.join(folder, 'damaged.mien');
    await writeFile(damaged, (await readFile(defaultModel)).subarray(0, 100));
    const elsewhere = ['--out', path.join(folder, 'refused.mien'), '--log', path.join(folder, 'refused.jsonl')];
    await expect(train(1, '--init', damaged, ...elsewhere)).rejects.toThrow(`${damaged}: the file is truncated`);
    // A negative loss weight is refused before anything is read or written.
    await expect(train(1, '--r1', '-1', ...elsewhere)).rejects.toThrow('--r1 must be 0 or more, not -1.0');
    await expect(
      run(python, [script, '--images', faceImages, '--labels', labels, '--seconds', '1', '--resume', '--out', damaged]),
    ).rejects.toThrow('damaged.state.pt: no training state to resume from');
    // Each model file has its picture sheet: rows of face | edit | drawing, at 2x for a 64 px model.
    for (const sheet of [path.join(folder, 'run.png'), path.join(folder, 'run-10.png')]) {
      const { width, height } = await sharp(sheet).metadata();
      expect(width).toBe(3 * 64 * 2);
      expect(height).toBeGreaterThan(0);
      expect(height! % (64 * 2)).toBe(0);
    }
  });
});
