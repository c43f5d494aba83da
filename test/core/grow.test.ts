import * as tf from '@tensorflow/tfjs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import { defaultModelPath } from '../../src-main/core/model/default-model.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { grownModel } from '../../src-main/core/model/grow.js';
import { startTraining } from '../../src-main/core/training/trainer.js';
import { faceImages, smallRun } from '../helpers/faces.js';

let shipped: ExpressionModel;
let grown: ExpressionModel;

beforeAll(async () => {
  await selectBackend('wasm');
  shipped = await ExpressionModel.load(defaultModelPath());
  grown = grownModel(shipped, { ...shipped.config, size: 128 });
});
afterAll(() => {
  shipped.dispose();
  grown.dispose();
});

/** A real face's centred square at `size` px, in [-1, 1]. */
async function face(file: string, size: number): Promise<tf.Tensor4D> {
  const pixels = await sharp(path.join(faceImages, file))
    .extract({ left: 0, top: 10, width: 89, height: 89 })
    .resize(size, size)
    .raw()
    .toBuffer();
  return tf.tidy(
    () => tf.sub(tf.div(tf.tensor4d(new Uint8Array(pixels), [1, size, size, 3], 'float32'), 127.5), 1) as tf.Tensor4D,
  );
}

/** Mean absolute difference between a 128 px model's decode and the 64 px model's, nearest-upsampled. */
function differenceFromShipped(model: ExpressionModel, image: tf.Tensor4D, label: number): number {
  return tf.tidy(() => {
    const small = shipped.predict(tf.avgPool(image, 2, 2, 'valid'), [label]);
    const upsampled = tf.image.resizeNearestNeighbor(small, [128, 128]);
    return tf.mean(tf.abs(tf.sub(model.predict(image, [label]), upsampled))).dataSync()[0]!;
  });
}

describe('a model grown to twice its size', () => {
  it('starts out decoding as the smaller one does, nearest-upsampled, at both labels', async () => {
    const random = ExpressionModel.create({ ...shipped.config, size: 128 }, 5);
    for (const file of ['000001.jpg', '000002.jpg']) {
      const image = await face(file, 128);
      for (const label of [0, 1]) {
        // Within 2% of the output range; an untrained model of the same size is far off.
        expect(differenceFromShipped(grown, image, label)).toBeLessThan(0.04);
        expect(differenceFromShipped(random, image, label)).toBeGreaterThan(0.2);
      }
      image.dispose();
    }
    random.dispose();
  });

  it("keeps the smaller model's deeper encoder, its decoder but the last layer, and its discriminator", () => {
    const small = new Map(shipped.network.exportWeights().map((w) => [w.name, w.values]));
    const large = new Map(grown.network.exportWeights().map((w) => [w.name, w.values]));
    const same = (a: string, b: string) => expect(Array.from(large.get(a)!), a).toEqual(Array.from(small.get(b)!));
    for (let i = 1; i < 5; i++) same(`encoder.${i + 1}.filter`, `encoder.${i}.filter`);
    for (let i = 0; i < 4; i++) same(`decoder.${i}.bias`, `decoder.${i}.bias`);
    for (const name of small.keys()) if (name.startsWith('discriminator.')) same(name, name);
    expect(large.has('decoder.5.filter')).toBe(true);
    expect(small.has('decoder.5.filter')).toBe(false);
  });

  it('grows only a paper model, one size at a time', () => {
    expect(() => grownModel(shipped, { ...shipped.config, size: 256 })).toThrow(
      /one size at a time: 64 px paper to 256/,
    );
    const fader = ExpressionModel.create({ preset: 'fader', size: 64, attribute: 'smiling' });
    expect(() => grownModel(fader, { ...fader.config, size: 128 })).toThrow(/only a paper model grows/);
    fader.dispose();
  });

  it('is what a 128 px training run starts from when given a 64 px model; a larger one is refused', async () => {
    const settings = smallRun({
      model: { ...shipped.config, size: 128 },
      schedule: { ...smallRun().schedule, phaseSteps: [1, 0, 0] },
      data: { ...smallRun().data, limit: 16 },
      initialModel: defaultModelPath(),
    });
    const run = await mkdtemp(path.join(os.tmpdir(), 'mien-grow-'));
    const result = await startTraining(run, settings);
    const trained = await ExpressionModel.load(result.model!);
    expect(trained.config.size).toBe(128);
    // One step at a small learning rate leaves the deep layers near the shipped model's.
    const deep = (m: ExpressionModel, name: string) => m.network.exportWeights().find((w) => w.name === name)!.values;
    const moved = tf.tidy(
      () =>
        tf.mean(tf.abs(tf.sub(deep(trained, 'encoder.5.filter'), deep(shipped, 'encoder.4.filter')))).dataSync()[0]!,
    );
    expect(moved).toBeLessThan(2e-3);
    trained.dispose();

    const decoderAlone = { ...settings, trained: 'decoder' as const };
    await expect(startTraining(await mkdtemp(path.join(os.tmpdir(), 'mien-grow-')), decoderAlone)).rejects.toThrow(
      /training the decoder alone needs one of the run's 128 px/,
    );

    // A growth grownModel refuses (more than one size) names the file.
    const twoSizes = { ...settings, model: { ...settings.model, size: 256 as const } };
    await expect(startTraining(await mkdtemp(path.join(os.tmpdir(), 'mien-grow-')), twoSizes)).rejects.toMatchObject({
      name: 'CheckpointError',
      file: defaultModelPath(),
      message: expect.stringMatching(/one size at a time: 64 px paper to 256 px paper/),
    });

    const larger = path.join(run, 'model.mien');
    const back = smallRun({ initialModel: larger });
    await expect(startTraining(await mkdtemp(path.join(os.tmpdir(), 'mien-grow-')), back)).rejects.toThrow(
      /is a 128 px model, larger than the run's 64 px/,
    );
  });
});
