import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DatasetError,
  celebaCrop,
  loadFaceDataset,
  readLabelledRows,
  type DatasetOptions,
} from '../../src-main/core/training/dataset.js';

// Real CelebA-derived sample shared between checkouts; read in place, never copied into the repository.
const FACES = path.resolve(process.cwd(), '../shared/data/faces');
const IMAGES = path.join(FACES, 'images');
const LABELS = path.join(FACES, 'labels.csv');

/** The real CSV has no quoted fields, so a plain split is an independent reference for the loader's parser. */
async function readRealCsv(): Promise<{ header: string[]; rows: Map<string, Record<string, string>> }> {
  const lines = (await fs.readFile(LABELS, 'utf8')).trim().split(/\r?\n/);
  const header = lines[0]!.split(',');
  const rows = new Map<string, Record<string, string>>();
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    rows.set(cells[0]!, Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ''])));
  }
  return { header, rows };
}

const real = (extra: Partial<DatasetOptions> = {}): DatasetOptions => ({
  imagesDir: IMAGES,
  labelsCsv: LABELS,
  labelColumn: 'smiling',
  split: 'train',
  limit: 40,
  size: 64,
  ...extra,
});

/** Resolves to the DatasetError a promise rejects with, failing the test if it resolves or throws otherwise. */
async function datasetError(promise: Promise<unknown>): Promise<DatasetError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatasetError);
  return err as DatasetError;
}

describe('celebaCrop', () => {
  it('takes the centred square of aligned CelebA images', () => {
    expect(celebaCrop(178, 218)).toEqual({ left: 0, top: 20, width: 178, height: 178 });
    expect(celebaCrop(89, 109)).toEqual({ left: 0, top: 10, width: 89, height: 89 });
  });

  it('crops landscape images horizontally and leaves squares alone', () => {
    expect(celebaCrop(300, 200)).toEqual({ left: 50, top: 0, width: 200, height: 200 });
    expect(celebaCrop(64, 64)).toEqual({ left: 0, top: 0, width: 64, height: 64 });
    // Odd excess: integer offsets, the extra pixel is dropped at the far edge.
    expect(celebaCrop(101, 100)).toEqual({ left: 0, top: 0, width: 100, height: 100 });
    expect(celebaCrop(103, 100).left).toBe(1);
  });
});

describe('loadFaceDataset on the real faces', () => {
  it('loads the first train rows with their CSV labels, in CSV order', async () => {
    const { rows } = await readRealCsv();
    const data = await loadFaceDataset(real());
    expect(data.count).toBe(40);
    expect(data.size).toBe(64);
    expect(data.images).toBeInstanceOf(Uint8Array);
    expect(data.images.length).toBe(40 * 64 * 64 * 3);
    expect(data.labels).toBeInstanceOf(Float32Array);
    expect(data.labels.length).toBe(40);
    expect(data.files.length).toBe(40);
    expect(data.skipped).toEqual([]);

    const expectedFiles = [...rows.values()]
      .filter((r) => r.split === 'train')
      .map((r) => r.file)
      .slice(0, 40);
    expect(data.files).toEqual(expectedFiles);
    data.files.forEach((file, i) => {
      expect(rows.get(file)!.split).toBe('train');
      expect(data.labels[i]).toBe(Number(rows.get(file)!.smiling));
    });
    expect(new Set(data.labels)).toEqual(new Set([0, 1]));
  });

  it('has a stable fingerprint that tracks label column, size and split', async () => {
    const a = await loadFaceDataset(real());
    const b = await loadFaceDataset(real());
    expect(a.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(Buffer.from(b.images).equals(Buffer.from(a.images))).toBe(true);

    const otherLabel = await loadFaceDataset(real({ labelColumn: 'Male' }));
    const otherSize = await loadFaceDataset(real({ size: 128 }));
    const otherSplit = await loadFaceDataset(real({ split: 'test' }));
    const fewer = await loadFaceDataset(real({ limit: 39 }));
    const prints = [a, otherLabel, otherSize, otherSplit, fewer].map((d) => d.fingerprint);
    expect(new Set(prints).size).toBe(prints.length);
    expect(otherSize.images.length).toBe(40 * 128 * 128 * 3);
  });

  it('keeps only the rows whose agreeing column equals the label, and says so in its fingerprint', async () => {
    const { rows } = await readRealCsv();
    const data = await loadFaceDataset(real({ agreeingColumn: 'Mouth_Slightly_Open' }));
    const expectedFiles = [...rows.values()]
      .filter((r) => r.split === 'train' && r.smiling === r.Mouth_Slightly_Open)
      .map((r) => r.file)
      .slice(0, 40);
    expect(data.files).toEqual(expectedFiles);
    data.files.forEach((file, i) => expect(data.labels[i]).toBe(Number(rows.get(file)!.Mouth_Slightly_Open)));
    // Both kinds stay: open-mouthed smiles and closed-mouthed neutral faces.
    expect(new Set(data.labels)).toEqual(new Set([0, 1]));
    const unfiltered = await loadFaceDataset(real());
    expect(unfiltered.files).not.toEqual(data.files);
    expect(data.fingerprint).not.toBe(unfiltered.fingerprint);

    const noColumn = await datasetError(loadFaceDataset(real({ agreeingColumn: 'Mouth_Wide_Open' })));
    expect(noColumn.message).toContain('Mouth_Wide_Open');
    // A column that never equals the label (here: not a number) leaves nothing to train on.
    const none = await datasetError(loadFaceDataset(real({ agreeingColumn: 'split' })));
    expect(none.message).toContain('"split" equal to their label');
  });

  it('averages the label with the columns asked, and says so in its fingerprint', async () => {
    const { rows } = await readRealCsv();
    const labelWith = ['Mouth_Slightly_Open', 'High_Cheekbones'];
    const data = await loadFaceDataset(real({ labelWith }));
    const plain = await loadFaceDataset(real());
    expect(data.files).toEqual(plain.files);
    data.files.forEach((file, i) => {
      const row = rows.get(file)!;
      const mean = (Number(row.smiling) + Number(row.Mouth_Slightly_Open) + Number(row.High_Cheekbones)) / 3;
      expect(data.labels[i]).toBeCloseTo(mean, 6);
    });
    // Among 40 faces there are smiles with and without an open mouth: labels between 0 and 1 too.
    expect(data.labels.some((l) => l > 0 && l < 1)).toBe(true);
    expect(data.fingerprint).not.toBe(plain.fingerprint);

    const noColumn = await datasetError(loadFaceDataset(real({ labelWith: ['Dimples'] })));
    expect(noColumn.message).toContain('Dimples');
    // A column that is no number (here: the split) makes every face's label unreadable; the skips name it.
    const notNumbers = await datasetError(loadFaceDataset(real({ labelWith: ['split'] })));
    expect(notNumbers.message).toMatch(/label "train" is not a number/);
  });

  it('lists only the rows with the value asked in another column', async () => {
    const { rows } = await readRealCsv();
    const where = { column: 'Mouth_Slightly_Open', value: '1' };
    const listed = await readLabelledRows({ ...real({ split: 'test', limit: 12 }), where });
    const expected = [...rows.values()].filter((r) => r.split === 'test' && r.Mouth_Slightly_Open === '1').slice(0, 12);
    expect(listed.map((r) => r.file)).toEqual(expected.map((r) => r.file));
    expect(listed.map((r) => r.label)).toEqual(expected.map((r) => Number(r.smiling)));
    const closed = await readLabelledRows({ ...real({ split: 'test', limit: 12 }), where: { ...where, value: '0' } });
    expect(closed.every((r) => rows.get(r.file)!.Mouth_Slightly_Open === '0')).toBe(true);

    const noColumn = await datasetError(readLabelledRows({ ...real(), where: { column: 'Dimples', value: '1' } }));
    expect(noColumn.message).toContain('Dimples');
    const noRows = await datasetError(readLabelledRows({ ...real(), where: { ...where, value: '2' } }));
    expect(noRows.message).toContain('Mouth_Slightly_Open=2');
  });

  it('decodes real pixels identical to sharp’s own crop and resize', async () => {
    const data = await loadFaceDataset(real({ limit: 3 }));
    const side = data.size * data.size * 3;
    for (let i = 0; i < data.count; i++) {
      const img = data.images.subarray(i * side, (i + 1) * side);
      // A face is not a flat fill: mean mid-range, clear spread.
      const mean = img.reduce((s, v) => s + v, 0) / img.length;
      const variance = img.reduce((s, v) => s + (v - mean) ** 2, 0) / img.length;
      expect(mean).toBeGreaterThan(20);
      expect(mean).toBeLessThan(235);
      expect(Math.sqrt(variance)).toBeGreaterThan(10);

      const file = path.join(IMAGES, data.files[i]!);
      const meta = await sharp(file).metadata();
      const ref = await sharp(file)
        .rotate()
        .extract(celebaCrop(meta.width, meta.height))
        .resize(data.size, data.size, { kernel: 'lanczos3' })
        .raw()
        .toBuffer();
      expect([...img.subarray(0, 3)]).toEqual([...ref.subarray(0, 3)]);
      expect(Buffer.from(img).equals(ref)).toBe(true);
    }
  });

  it('reports progress at most every ~100 images and once at the end', async () => {
    const calls: [number, number][] = [];
    const data = await loadFaceDataset(real({ limit: 250, onProgress: (done, total) => calls.push([done, total]) }));
    expect(data.count).toBe(250);
    expect(calls.at(-1)).toEqual([250, 250]);
    expect(calls.length).toBeLessThanOrEqual(4);
    expect(calls.every(([, total]) => total === 250)).toBe(true);
    expect(calls.map(([done]) => done)).toEqual([...calls.map(([done]) => done)].sort((x, y) => x - y));
  });

  it('rejects a label column or split that the CSV cannot provide', async () => {
    const noColumn = await datasetError(loadFaceDataset(real({ labelColumn: 'Grinning' })));
    expect(noColumn.message).toContain('Grinning');
    expect(noColumn.message).toContain('smiling');
    const noRows = await datasetError(loadFaceDataset(real({ split: 'holdout' })));
    expect(noRows.message).toContain('holdout');
    await datasetError(loadFaceDataset(real({ imagesDir: path.join(FACES, 'no-such-dir') })));
    const noCsv = await datasetError(loadFaceDataset(real({ labelsCsv: path.join(FACES, 'missing.csv') })));
    expect(noCsv.message).toContain('missing.csv');
  });
});

describe('loadFaceDataset with bad inputs', () => {
  let dir: string;
  let good: [string, string];

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mien-dataset-'));
    const { rows } = await readRealCsv();
    good = [...rows.keys()].slice(0, 2) as [string, string];
    for (const file of good) await fs.copyFile(path.join(IMAGES, file), path.join(dir, file));
    const jpeg = await fs.readFile(path.join(IMAGES, good[0]));
    await fs.writeFile(path.join(dir, 'empty.jpg'), Buffer.alloc(0));
    await fs.writeFile(path.join(dir, 'text.jpg'), 'this is not a JPEG\n');
    await fs.writeFile(path.join(dir, 'truncated.jpg'), jpeg.subarray(0, 300));
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const write = async (name: string, text: string): Promise<string> => {
    const file = path.join(dir, name);
    await fs.writeFile(file, text);
    return file;
  };
  const options = (labelsCsv: string, extra: Partial<DatasetOptions> = {}): DatasetOptions => ({
    imagesDir: dir,
    labelsCsv,
    labelColumn: 'smiling',
    size: 64,
    ...extra,
  });

  it('skips missing, empty, non-image and truncated files and keeps the good ones', async () => {
    const csv = await write(
      'mixed.csv',
      [
        'file,smiling',
        `${good[0]},1`,
        'missing.jpg,0',
        'empty.jpg,1',
        'text.jpg,0',
        'truncated.jpg,1',
        `${good[1]},0`,
      ].join('\n'),
    );
    const data = await loadFaceDataset(options(csv));
    expect(data.count).toBe(2);
    expect(data.files).toEqual(good);
    expect([...data.labels]).toEqual([1, 0]);
    expect(data.images.length).toBe(2 * 64 * 64 * 3);
    expect(data.skipped.map((s) => s.file)).toEqual(['missing.jpg', 'empty.jpg', 'text.jpg', 'truncated.jpg']);
    expect(data.skipped[0]!.reason).toMatch(/not found/);
    expect(data.skipped[1]!.reason).toMatch(/empty/);
    for (const s of data.skipped) expect(s.reason.length).toBeGreaterThan(3);

    // The second good image sits in slot 1 after the bad rows were squeezed out.
    const alone = await loadFaceDataset(options(await write('second.csv', `file,smiling\n${good[1]},0\n`)));
    expect(Buffer.from(data.images.subarray(64 * 64 * 3)).equals(Buffer.from(alone.images))).toBe(true);
  });

  it('parses quotes, CRLF, blank lines and skips non-numeric labels', async () => {
    const csv = await write(
      'quoted.csv',
      `\uFEFF"file","note",smiling,split\r\n\r\n"${good[0]}","says ""hi"", twice",0.5,train\r\n` +
        `${good[1]},x,yes,train\r\n${good[1]},"multi\r\nline",-1,train\r\n\r\n`,
    );
    const data = await loadFaceDataset(options(csv, { split: 'train' }));
    expect(data.files).toEqual(good);
    expect([...data.labels]).toEqual([0.5, -1]);
    expect(data.skipped).toEqual([{ file: good[1], reason: expect.stringMatching(/yes.*not a number/) }]);
  });

  it('skips an image over the pixel limit instead of decoding it', async () => {
    const huge = await sharp({ create: { width: 8000, height: 7000, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    await fs.writeFile(path.join(dir, 'huge.jpg'), huge);
    const data = await loadFaceDataset(options(await write('huge.csv', `file,smiling\nhuge.jpg,1\n${good[0]},0\n`)));
    expect(data.files).toEqual([good[0]]);
    expect(data.skipped).toEqual([{ file: 'huge.jpg', reason: expect.stringMatching(/too large/) }]);
  });

  it('throws DatasetError for CSVs that cannot serve the request', async () => {
    const noLabel = await write('nolabel.csv', `file,identity,Male\n${good[0]},1,0\n`);
    const err = await datasetError(loadFaceDataset(options(noLabel)));
    expect(err.message).toContain('smiling');
    expect(err.message).toContain('identity');
    expect(err.message).toContain('Male');

    const noSplit = await datasetError(loadFaceDataset(options(noLabel, { labelColumn: 'Male', split: 'train' })));
    expect(noSplit.message).toMatch(/split/);

    const noFile = await datasetError(loadFaceDataset(options(await write('nofile.csv', 'name,smiling\na.jpg,1\n'))));
    expect(noFile.message).toMatch(/"file"/);
  });

  it('throws DatasetError when every row is bad, with the count and reasons', async () => {
    const csv = await write('allbad.csv', 'file,smiling\nmissing.jpg,1\nempty.jpg,0\ntext.jpg,1\ntruncated.jpg,0\n');
    const err = await datasetError(loadFaceDataset(options(csv)));
    expect(err.message).toContain('4');
    expect(err.message).toMatch(/not found/);
  });
});
