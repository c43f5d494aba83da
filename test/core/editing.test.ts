import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import {
  editPhoto,
  freeOutputName,
  readEditedImage,
  writeEditedPhoto,
} from '../../src-main/core/editing/edit-photo.js';
import {
  applyResiduals,
  applyResidualsInPlace,
  faceChange,
  faceResidual,
  handoverWeights,
  limitColour,
  maskWeight,
  readRegion,
} from '../../src-main/core/editing/residual-edit.js';
import { extractCrop, sampleBilinear, type CropFrame } from '../../src-main/core/faces/alignment.js';
import { readRgbImage, readRgbRegion, type RgbImage } from '../../src-main/core/images/read-image.js';
import { ExpressionModel } from '../../src-main/core/model/expression-model.js';

const photos = path.resolve(process.cwd(), '../shared/data/photos');
let model: ExpressionModel;

beforeAll(async () => {
  await selectBackend('wasm');
  // An untrained model still changes pixels with its label, which is all these properties need.
  model = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' }, 21);
});
afterAll(() => model.dispose());

/** The mask weight of each photo pixel for one face, computed independently of the edit code. */
function insideMask(frame: CropFrame, x: number, y: number): boolean {
  const px = x + 0.5 - frame.centerX;
  const py = y + 0.5 - frame.centerY;
  const u = (Math.cos(frame.angle) * px + Math.sin(frame.angle) * py) / frame.size + 0.5;
  const v = (-Math.sin(frame.angle) * px + Math.cos(frame.angle) * py) / frame.size + 0.5;
  return maskWeight(u, v) > 0;
}

function compare(before: RgbImage, after: RgbImage, frames: CropFrame[]) {
  let changedOutside = 0;
  let changedInside = 0;
  for (let y = 0; y < before.height; y++) {
    for (let x = 0; x < before.width; x++) {
      const o = (y * before.width + x) * 3;
      const changed = [0, 1, 2].some((c) => before.data[o + c] !== after.data[o + c]);
      if (!changed) continue;
      if (frames.some((f) => insideMask(f, x, y))) changedInside++;
      else changedOutside++;
    }
  }
  return { changedInside, changedOutside };
}

describe('residual edits', () => {
  it('keep the brightness change of each pixel and only part of its colour change', () => {
    const residual = Float32Array.from([30, 0, 0, -12, -12, -12, 10, -20, 40]);
    const lumaOf = (r: Float32Array, p: number) => 0.299 * r[p]! + 0.587 * r[p + 1]! + 0.114 * r[p + 2]!;
    const before = Float32Array.from(residual);
    limitColour(residual, 0.3);
    for (let p = 0; p < residual.length; p += 3) {
      expect(lumaOf(residual, p)).toBeCloseTo(lumaOf(before, p), 5);
      const spread = (r: Float32Array) => Math.max(r[p]!, r[p + 1]!, r[p + 2]!) - Math.min(r[p]!, r[p + 1]!, r[p + 2]!);
      expect(spread(residual)).toBeCloseTo(0.3 * spread(before), 5);
    }
    // A grey change (no colour) passes whole.
    expect(Array.from(residual.subarray(3, 6))).toEqual([-12, -12, -12]);
  });

  it('change pixels only inside the feathered face mask', async () => {
    const file = path.join(photos, 'two_people.jpg');
    const original = await readRgbImage(file);
    const result = await editPhoto(file, model, { target: 1.5 });
    expect(result.faces).toHaveLength(2);
    const { changedInside, changedOutside } = compare(
      original,
      await readEditedImage(file, result),
      result.faces.map((f) => f.frame),
    );
    expect(changedOutside).toBe(0);
    expect(changedInside).toBeGreaterThan(1000);
  });

  it('leave a face untouched when the target equals its expression', async () => {
    const photo = await readRgbImage(path.join(photos, 'obama.jpg'));
    const frame = { centerX: 480, centerY: 300, size: 300, angle: 0.1 };
    const residual = faceResidual(model, photo, { frame, source: 0.7, target: 0.7 });
    expect(residual.every((v) => v === 0)).toBe(true);
    const same = applyResiduals(photo, [{ frame, residual, size: 64 }]);
    expect(Buffer.from(same.data).equals(Buffer.from(photo.data))).toBe(true);
  });

  it('hand the photo over to the drawing only where the change is large, and feather the border', () => {
    const size = 8;
    const residual = new Float32Array(size * size * 3);
    const at = (x: number, y: number) => y * size + x;
    residual.fill(-40, at(3, 3) * 3, at(3, 3) * 3 + 3); // a grey change of 40 levels at (3, 3)
    residual.fill(5, at(6, 6) * 3, at(6, 6) * 3 + 3); // a change under the first level
    const weights = handoverWeights(residual, size, [10, 30]);
    // Widened by a pixel, then a 3 x 3 mean: full at the centre, fading over two pixels.
    expect(weights[at(3, 3)]).toBeCloseTo(1, 5);
    expect(weights[at(4, 4)]).toBeCloseTo(4 / 9, 5);
    expect(weights[at(5, 3)]).toBeCloseTo(3 / 9, 5);
    expect(weights[at(6, 3)]).toBe(0);
    expect(weights[at(6, 6)]).toBe(0);
    expect(weights[at(0, 0)]).toBe(0);
  });

  it('give a large change of a removal over to the drawing, and leave additions and the default as residuals', async () => {
    const photo = await readRgbImage(path.join(photos, 'obama.jpg'));
    const frame = { centerX: 480, centerY: 300, size: 300, angle: 0.1 };
    const removal = { frame, source: 1, target: -1 };
    expect(faceChange(model, photo, removal).handover).toBeUndefined();
    expect(faceChange(model, photo, { ...removal, source: -1, target: 1 }, [0, 1]).handover).toBeUndefined();
    const { residual, handover } = faceChange(model, photo, removal, [0, 1]);
    expect(handover).toBeDefined();
    // Levels 0 and 1 hand over every pixel that changes: there the residual has no share left.
    const full = handover!.weights.filter((w) => w === 1).length;
    expect(full).toBeGreaterThan(64 * 64 * 0.5);
    handover!.weights.forEach((w, p) => {
      if (w === 1) expect([0, 1, 2].every((c) => residual[p * 3 + c] === 0)).toBe(true);
    });
    // Where the mask and the handover are whole, the edited photo is the drawing (up to resampling).
    const edited = extractCrop(applyResiduals(photo, [{ frame, size: 64, residual, handover }]), frame, 64);
    let compared = 0;
    for (let y = 30; y < 46; y++) {
      for (let x = 24; x < 40; x++) {
        const whole = [-1, 0, 1].every((dy) =>
          [-1, 0, 1].every((dx) => handover!.weights[(y + dy) * 64 + x + dx] === 1),
        );
        if (!whole) continue;
        compared++;
        for (let c = 0; c < 3; c++) {
          const i = (y * 64 + x) * 3 + c;
          expect(Math.abs(edited[i]! - handover!.drawing[i]!)).toBeLessThanOrEqual(3);
        }
      }
    }
    expect(compared).toBeGreaterThan(50);
  });

  it('edits inside the crop frame the user adjusted', async () => {
    const file = path.join(photos, 'obama.jpg');
    const original = await readRgbImage(file);
    const moved = { centerX: 200, centerY: 800, size: 250, angle: 0 };
    const result = await editPhoto(file, model, { target: 1.5, frames: { 'face-1': moved } });
    expect(result.faces[0]!.frame).toEqual(moved);
    const { changedInside, changedOutside } = compare(original, await readEditedImage(file, result), [moved]);
    expect(changedOutside).toBe(0);
    expect(changedInside).toBeGreaterThan(1000);
  });

  it('uses faces found earlier instead of running the detector again, with the same result', async () => {
    const file = path.join(photos, 'two_people.jpg');
    const detected = await editPhoto(file, model, { target: 0, targets: { 'face-2': 1 } });
    const known = await editPhoto(file, model, { target: 0, targets: { 'face-2': 1 }, faces: detected.faces });
    const [knownImage, detectedImage] = await Promise.all([known, detected].map((e) => readEditedImage(file, e)));
    expect(Buffer.from(knownImage!.data).equals(Buffer.from(detectedImage!.data))).toBe(true);
    expect(known.edited).toEqual(detected.edited);
    // The detector finds nothing in a blank picture; a face given for it is edited all the same.
    const blank = path.join(await mkdtemp(path.join(os.tmpdir(), 'mien-known-')), 'blank.png');
    await sharp({ create: { width: 400, height: 300, channels: 3, background: '#808080' } })
      .png()
      .toFile(blank);
    const frame = { centerX: 200, centerY: 150, size: 160, angle: 0 };
    expect((await editPhoto(blank, model, { target: 1 })).faces).toEqual([]);
    const given = await editPhoto(blank, model, { target: 1, faces: [{ id: 'face-1', frame, smile: 0 }] });
    const { changedInside, changedOutside } = compare(await readRgbImage(blank), await readEditedImage(blank, given), [
      frame,
    ]);
    expect(changedOutside).toBe(0);
    expect(changedInside).toBeGreaterThan(1000);
  });

  it('takes a per-face target and refuses unknown face ids', async () => {
    const file = path.join(photos, 'two_people.jpg');
    const result = await editPhoto(file, model, { target: 0, targets: { 'face-2': 1 } });
    expect(result.edited.map((f) => f.target)).toEqual([0, 1]);
    await expect(editPhoto(file, model, { target: 0, targets: { 'face-9': 1 } })).rejects.toThrow(
      /two_people\.jpg: no face-9 in this photo \(it has 2 faces\)/,
    );
  });
});

describe('editing a box of a large photo', () => {
  // Frames inside, across the border (turned) and wholly outside a photo.
  const frames: CropFrame[] = [
    { centerX: 700, centerY: 500, size: 420, angle: 0.12 },
    { centerX: 60, centerY: 1350, size: 500, angle: -0.7 },
    { centerX: 2600, centerY: -300, size: 200, angle: 2.5 },
  ];

  it('reads exactly the pixels the whole photo has, upright', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-region-'));
    const rotated = path.join(dir, 'rotated.jpg');
    await sharp(path.join(photos, 'obama_and_biden.jpg'))
      .rotate(-90)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 90 })
      .toFile(rotated);
    for (const file of [path.join(photos, 'obama_and_biden.jpg'), rotated, path.join(photos, '32bit.png')]) {
      const whole = await readRgbImage(file);
      const box = { left: 17, top: whole.height - 301, width: 250, height: 301 };
      const area = await readRgbRegion(file, box);
      expect([area.photoWidth, area.photoHeight, area.width, area.height]).toEqual([
        whole.width,
        whole.height,
        250,
        301,
      ]);
      for (let y = 0; y < box.height; y++) {
        const start = ((box.top + y) * whole.width + box.left) * 3;
        const row = whole.data.subarray(start, start + box.width * 3);
        expect(Buffer.from(area.data.subarray(y * box.width * 3, (y + 1) * box.width * 3)).equals(row)).toBe(true);
      }
    }
  });

  it('crops and edits a box around the faces bit for bit like the whole photo', async () => {
    const file = path.join(photos, 'obama_and_biden.jpg');
    const whole = await readRgbImage(file);
    const region = readRegion(frames, whole.width, whole.height)!;
    const area = await readRgbRegion(file, region);
    const faces = frames.map((frame, i) => {
      const crop = extractCrop(whole, frame, 64);
      expect(Buffer.from(extractCrop(area, frame, 64)).equals(crop)).toBe(true);
      return { frame, size: 64, residual: faceResidual(model, whole, { frame, source: 0.1 * i, target: 1.5 }) };
    });
    const edited = applyResiduals(whole, faces);
    applyResidualsInPlace(area, faces);
    for (let y = 0; y < area.height; y++) {
      const start = ((area.top + y) * whole.width + area.left) * 3;
      const row = edited.data.subarray(start, start + area.width * 3);
      expect(Buffer.from(area.data.subarray(y * area.width * 3, (y + 1) * area.width * 3)).equals(row)).toBe(true);
    }
    // Every pixel with a mask weight is edited, as a visit of the whole photo finds.
    const expected = new Uint8Array(whole.data);
    const sample = [0, 0, 0];
    for (const { frame, residual } of faces) {
      for (let y = 0; y < whole.height; y++) {
        for (let x = 0; x < whole.width; x++) {
          const px = x + 0.5 - frame.centerX;
          const py = y + 0.5 - frame.centerY;
          const u = (Math.cos(frame.angle) * px + Math.sin(frame.angle) * py) / frame.size + 0.5;
          const v = (-Math.sin(frame.angle) * px + Math.cos(frame.angle) * py) / frame.size + 0.5;
          const weight = maskWeight(u, v);
          if (weight === 0) continue;
          sampleBilinear(residual, 64, 64, u * 64 - 0.5, v * 64 - 0.5, sample);
          for (let c = 0; c < 3; c++) {
            const o = (y * whole.width + x) * 3 + c;
            const value = expected[o]! + weight * sample[c]!;
            expected[o] = value < 0 ? 0 : value > 255 ? 255 : Math.round(value);
          }
        }
      }
    }
    expect(Buffer.from(edited.data).equals(Buffer.from(expected))).toBe(true);
  });
});

describe('writing edited photos', () => {
  it('never touches the original and exports losslessly outside the mask', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-edit-'));
    const source = path.join(dir, 'portrait.jpg');
    await writeFile(source, await readFile(path.join(photos, 'obama.jpg')));
    const hash = async (f: string) =>
      createHash('sha256')
        .update(await readFile(f))
        .digest('hex');
    const before = await hash(source);
    const result = await editPhoto(source, model, { target: 0 });
    const out = path.join(dir, 'portrait-edited.png');
    await writeEditedPhoto(source, out, result);
    await expect(writeEditedPhoto(source, source, result)).rejects.toThrow(/refusing to overwrite the original/);
    expect(await hash(source)).toBe(before);
    const decodedOriginal = await readRgbImage(source);
    const written = await readRgbImage(out);
    expect(
      compare(
        decodedOriginal,
        written,
        result.faces.map((f) => f.frame),
      ).changedOutside,
    ).toBe(0);
  });

  it('keeps a wide-gamut colour profile, and the pixels outside the mask exactly', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-edit-'));
    const source = path.join(dir, 'display-p3.png');
    await sharp(path.join(photos, 'obama.jpg')).withIccProfile('p3').png().toFile(source);
    const result = await editPhoto(source, model, { target: 0 });
    expect(result.faces).toHaveLength(1);
    const out = path.join(dir, 'display-p3-edited.png');
    await writeEditedPhoto(source, out, result, { keepMetadata: false });
    const [sourceIcc, outIcc] = await Promise.all([source, out].map(async (f) => (await sharp(f).metadata()).icc));
    expect(outIcc).toBeDefined();
    expect(Buffer.compare(outIcc!, sourceIcc!)).toBe(0);
    const frames = result.faces.map((f) => f.frame);
    const { changedInside, changedOutside } = compare(await readRgbImage(source), await readRgbImage(out), frames);
    expect(changedOutside).toBe(0);
    expect(changedInside).toBeGreaterThan(0);
  });

  it('keeps the transparency of an RGBA PNG', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-edit-'));
    const source = path.join(photos, '32bit.png');
    const result = await editPhoto(source, model, { target: 1 });
    expect(result.alpha).toBeDefined();
    const out = path.join(dir, 'rgba-edited.png');
    await writeEditedPhoto(source, out, result);
    const [a, b] = await Promise.all([source, out].map((f) => sharp(f).extractChannel('alpha').raw().toBuffer()));
    expect(b!.equals(a!)).toBe(true);
  });

  it('carries EXIF into the export with the orientation applied, unless asked to strip it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-edit-'));
    const source = path.join(dir, 'camera.jpg');
    await sharp(path.join(photos, 'obama.jpg'))
      .rotate(-90)
      .withExif({ IFD0: { Make: 'MienTestCamera' } })
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toFile(source);
    const result = await editPhoto(source, model, { target: 0 });
    expect(result.faces).toHaveLength(1);
    const kept = path.join(dir, 'kept.jpg');
    const stripped = path.join(dir, 'stripped.jpg');
    await writeEditedPhoto(source, kept, result);
    await writeEditedPhoto(source, stripped, result, { keepMetadata: false });
    const keptMeta = await sharp(kept).metadata();
    expect(keptMeta.exif?.toString('latin1')).toContain('MienTestCamera');
    expect(keptMeta.orientation ?? 1).toBe(1);
    expect([keptMeta.width, keptMeta.height]).toEqual([910, 1137]);
    expect((await sharp(stripped).metadata()).exif).toBeUndefined();
  });

  it('lays only what changed over the source, with the pixels a composite of the edited box gives', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-edit-'));
    const source = path.join(dir, 'turned.jpg');
    await sharp(path.join(photos, 'obama_and_biden.jpg'))
      .rotate(-90)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 90 })
      .toFile(source);
    const result = await editPhoto(source, model, { target: 1.5 });
    expect(result.unedited).toBeDefined();
    const [difference, composite] = [path.join(dir, 'difference.png'), path.join(dir, 'composite.png')];
    await writeEditedPhoto(source, difference, result);
    await writeEditedPhoto(source, composite, { ...result, unedited: undefined });
    const [a, b] = await Promise.all([difference, composite].map((f) => sharp(f).removeAlpha().raw().toBuffer()));
    expect(a!.equals(b!)).toBe(true);
    expect((await sharp(difference).metadata()).channels).toBe(3);
    const { changedInside, changedOutside } = compare(
      await readRgbImage(source),
      await readRgbImage(difference),
      result.frames,
    );
    expect(changedOutside).toBe(0);
    expect(changedInside).toBeGreaterThan(1000);
  });

  it('picks a free output name beside the photo', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-edit-'));
    const source = path.join(dir, 'a.jpg');
    await writeFile(source, 'x');
    expect(await freeOutputName(source, 'edited')).toBe(path.join(dir, 'a-edited.jpg'));
    await writeFile(path.join(dir, 'a-edited.jpg'), 'x');
    expect(await freeOutputName(source, 'edited')).toBe(path.join(dir, 'a-edited-2.jpg'));
  });
});
