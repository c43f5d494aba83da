import { copyFile, mkdtemp, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ThumbnailCache } from '../../src-main/core/images/thumbnails.js';

const photos = path.resolve(process.cwd(), '../shared/data/photos');

describe('thumbnail cache', () => {
  it('makes an upright thumbnail once and reuses it until the photo changes', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-thumbs-'));
    const photo = path.join(dir, 'tall.jpg');
    await copyFile(path.join(photos, 'biden.jpg'), photo);
    const cache = new ThumbnailCache(path.join(dir, 'cache'));
    const first = await cache.get(photo, 256);
    const meta = await sharp(first).metadata();
    expect(Math.max(meta.width!, meta.height!)).toBe(256);
    expect(meta.height).toBeGreaterThan(meta.width!);
    const made = (await stat(first)).mtimeMs;
    expect(await cache.get(photo, 256)).toBe(first);
    expect((await stat(first)).mtimeMs).toBe(made);
    expect(await cache.get(photo, 128)).not.toBe(first);
    await copyFile(path.join(photos, 'obama.jpg'), photo);
    await utimes(photo, new Date(), new Date(Date.now() + 5000));
    const changed = await cache.get(photo, 256);
    expect(changed).not.toBe(first);
  });

  it('names the photo it cannot read', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-thumbs-'));
    const broken = path.join(dir, 'broken.jpg');
    await writeFile(broken, 'no');
    const cache = new ThumbnailCache(path.join(dir, 'cache'));
    await expect(cache.get(broken, 64)).rejects.toThrow(/broken\.jpg: cannot make a thumbnail/);
    await expect(cache.get(path.join(dir, 'gone.jpg'), 64)).rejects.toThrow(/gone\.jpg: file not found/);
  });
});
