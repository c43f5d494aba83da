import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { faceResidual } from '../../src-main/core/editing/residual-edit.js';
import type { GridFace } from '../../src-main/core/evaluation/grid.js';
import { calibratedEditScale, labelResponse } from '../../src-main/core/finetune/edit-strength.js';
import { readRgbImage } from '../../src-main/core/images/read-image.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';

const facesDir = path.resolve('../shared/data/faces/images');
let faces: GridFace[];

beforeAll(async () => {
  await selectBackend('wasm');
  faces = [];
  for (const file of ['000001.jpg', '000007.jpg', '000024.jpg']) {
    const image = await readRgbImage(path.join(facesDir, file));
    const frame = { centerX: image.width / 2, centerY: image.height / 2, size: image.width, angle: 0 };
    faces.push({ image, frame, smile: 0.2 });
  }
});

/** The same network with the label plane cut from every decoder stage: it cannot change the expression. */
function deaf(model: ExpressionModel): ExpressionModel {
  const copy = ExpressionModel.create(model.config);
  const weights = new Map(model.network.exportWeights().map((w) => [w.name, w]));
  for (const [name, w] of weights) {
    if (!/^decoder\.\d+\.filter$/.test(name)) continue;
    const [kh, kw, inputs, outputs] = w.shape as [number, number, number, number];
    const values = Float32Array.from(w.values);
    // The label plane is the last input channel of each stage.
    for (let k = 0; k < kh * kw; k++)
      values.fill(0, (k * inputs + inputs - 1) * outputs, (k * inputs + inputs) * outputs);
    weights.set(name, { ...w, values });
  }
  copy.network.importWeights(weights);
  return copy;
}

describe('edit strength', () => {
  it("scales how far an edit moves the label from the face's own expression", () => {
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' });
    const [face] = faces;
    const asked = faceResidual(model, face!.image, { frame: face!.frame, source: 0.2, target: 0.9 });
    model.editScale = 2;
    const scaled = faceResidual(model, face!.image, { frame: face!.frame, source: 0.2, target: 0.9 });
    model.editScale = 1;
    const doubled = faceResidual(model, face!.image, { frame: face!.frame, source: 0.2, target: 1.6 });
    expect(Array.from(scaled)).toEqual(Array.from(doubled));
    expect(Array.from(scaled)).not.toEqual(Array.from(asked));
    model.dispose();
  });

  it("matches a tuned model to its base's strength, within a factor of two", () => {
    const base = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' });
    base.editScale = 1.25;
    expect(labelResponse(base, faces)).toBeGreaterThan(0);
    expect(calibratedEditScale(base, base, faces)).toBeCloseTo(1.25, 10);
    const other = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 7);
    const expected = (1.25 * labelResponse(base, faces)) / labelResponse(other, faces);
    expect(calibratedEditScale(base, other, faces)).toBeCloseTo(Math.min(2.5, Math.max(0.625, expected)), 10);
    const cannotEdit = deaf(base);
    expect(labelResponse(cannotEdit, faces)).toBe(0);
    expect(calibratedEditScale(base, cannotEdit, faces)).toBe(2.5);
    // A profile of a profile never gets a scale no model may have.
    base.editScale = 3;
    expect(calibratedEditScale(base, cannotEdit, faces)).toBe(4);
    [base, other, cannotEdit].forEach((m) => m.dispose());
  });

  it('is kept in the model file, and a scale no calibration writes is refused with the file named', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-scale-'));
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' });
    model.editScale = 0.8;
    const file = path.join(dir, 'profile.mien');
    await model.save(file, { name: 'p' }, true);
    model.dispose();
    const loaded = await ExpressionModel.load(file);
    expect(loaded.editScale).toBe(0.8);
    loaded.dispose();
    const bytes = await readFile(file);
    const damaged = path.join(dir, 'damaged.mien');
    await writeFile(
      damaged,
      Buffer.from(bytes.toString('latin1').replace('"editScale":0.8', '"editScale":9.0'), 'latin1'),
    );
    await expect(ExpressionModel.load(damaged)).rejects.toThrow(/damaged\.mien.*edit scale 9 is outside/);
  });
});
