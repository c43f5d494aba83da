import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SidecarStore } from '../../src-main/core/library/sidecars.js';

const photos = path.resolve(process.cwd(), '../shared/data/photos');
const edit = {
  model: { file: 'resources/models/default.mien' },
  faces: [{ id: 'face-1', frame: { centerX: 480, centerY: 300, size: 320, angle: 0.05 }, source: 0.9, target: 0 }],
};

async function setUp() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-sidecars-'));
  const photo = path.join(dir, 'photo.jpg');
  await copyFile(path.join(photos, 'obama.jpg'), photo);
  return { photo, store: new SidecarStore(path.join(dir, 'records')) };
}

describe('edit records', () => {
  it('round-trip without touching the photo', async () => {
    const { photo, store } = await setUp();
    const hash = createHash('sha256')
      .update(await readFile(photo))
      .digest('hex');
    expect(await store.read(photo)).toBeUndefined();
    await store.write(photo, edit);
    const read = await store.read(photo);
    expect(read?.stale).toBe(false);
    expect(read?.record.faces).toEqual(edit.faces);
    expect(
      createHash('sha256')
        .update(await readFile(photo))
        .digest('hex'),
    ).toBe(hash);
    await store.remove(photo);
    expect(await store.read(photo)).toBeUndefined();
  });

  it('mark a record stale when the photo changed', async () => {
    const { photo, store } = await setUp();
    await store.write(photo, edit);
    await utimes(photo, new Date(), new Date(Date.now() + 10_000));
    expect((await store.read(photo))?.stale).toBe(true);
  });

  it('report a damaged record clearly, naming it', async () => {
    const { photo, store } = await setUp();
    await store.write(photo, edit);
    await writeFile(store.fileOf(photo), '{"version": 1, "photo":');
    await expect(store.read(photo)).rejects.toThrow(/\.json: edit record of .*photo\.jpg is damaged/);
    await writeFile(store.fileOf(photo), JSON.stringify({ version: 2 }));
    await expect(store.read(photo)).rejects.toThrow(/is invalid/);
  });
});
