import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../util/atomic-write.js';
import { fileExists } from '../util/file-exists.js';
import { ImageError, maxImagePixels } from './read-image.js';

/**
 * Gallery thumbnails, cached on disk under a name made of the photo's path,
 * the thumbnail size and the photo's size and modification time: a changed
 * photo gets a new thumbnail, an unchanged one is never decoded again.
 */
export class ThumbnailCache {
  constructor(private readonly dir: string) {}

  /** Path of a JPEG thumbnail whose longer side is `size`, made if missing. */
  async get(photo: string, size: number): Promise<string> {
    const info = await stat(photo).catch(() => undefined);
    if (!info?.isFile()) throw new ImageError(photo, 'file not found');
    const key = createHash('sha256')
      .update(`${path.resolve(photo)}\0${size}\0${info.size}\0${info.mtimeMs}`)
      .digest('hex')
      .slice(0, 32);
    const file = path.join(this.dir, key.slice(0, 2), `${key}.jpg`);
    if (await fileExists(file)) return file;
    let thumbnail: Buffer;
    try {
      thumbnail = await sharp(photo, { limitInputPixels: maxImagePixels, failOn: 'truncated' })
        .rotate()
        .resize(size, size, { fit: 'inside', withoutEnlargement: true })
        .flatten({ background: '#ffffff' })
        .jpeg({ quality: 80 })
        .toBuffer();
    } catch (error) {
      throw new ImageError(photo, `cannot make a thumbnail (${(error as Error).message.split('\n')[0]})`);
    }
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, [thumbnail]);
    return file;
  }
}
