import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { recordInManifest } from '../../src-main/core/model/manifest.js';

let dir: string;

beforeAll(async () => {
  await selectBackend('wasm');
  dir = await mkdtemp(path.join(os.tmpdir(), 'mien-manifest-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function shippedModel(name: string): Promise<string> {
  const file = path.join(dir, name);
  const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 2);
  await model.save(file, { name }, true);
  model.dispose();
  await recordInManifest(file);
  return file;
}

describe('shipped models manifest', () => {
  it('loads a model that matches its manifest entry', async () => {
    const file = await shippedModel('good.mien');
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.files['good.mien'].sha256).toMatch(/^[0-9a-f]{64}$/);
    const model = await ExpressionModel.load(file);
    expect(model.meta['name']).toBe('good.mien');
    model.dispose();
  });

  it('names a damaged or grown file instead of loading it', async () => {
    const flipped = await shippedModel('flipped.mien');
    const bytes = await readFile(flipped);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    await writeFile(flipped, bytes);
    await expect(ExpressionModel.load(flipped)).rejects.toThrow(/flipped\.mien: does not match its SHA-256/);
    const grown = await shippedModel('grown.mien');
    await appendFile(grown, 'x');
    await expect(ExpressionModel.load(grown)).rejects.toThrow(/grown\.mien: is \d+ bytes, the manifest says \d+/);
  });

  it('names a damaged manifest', async () => {
    const other = await mkdtemp(path.join(os.tmpdir(), 'mien-manifest-bad-'));
    const file = path.join(other, 'model.mien');
    const model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 2);
    await model.save(file);
    model.dispose();
    await writeFile(path.join(other, 'manifest.json'), '{ not json');
    await expect(ExpressionModel.load(file)).rejects.toThrow(/manifest is damaged/);
    await rm(other, { recursive: true, force: true });
  });
});
