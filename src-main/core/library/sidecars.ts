import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { FileError } from '../util/file-error.js';

/*
 * Non-destructive edits: what the user chose for a photo (each face's crop
 * frame and expression values, the model used) lives in a small JSON record in
 * the app's own folder, keyed by the photo's path. The photo is never written.
 */

const frameSchema = z.object({
  centerX: z.number(),
  centerY: z.number(),
  size: z.number().positive(),
  angle: z.number(),
});

export const editRecordSchema = z.object({
  version: z.literal(1),
  photo: z.string(),
  /** the photo as it was when edited; a different size or time marks the record stale */
  photoBytes: z.number().int().nonnegative(),
  photoModifiedMs: z.number(),
  model: z.object({ file: z.string(), sha256: z.string().optional() }),
  faces: z.array(
    z.object({
      id: z.string(),
      frame: frameSchema,
      source: z.number(),
      target: z.number(),
    }),
  ),
  updatedAt: z.string(),
});
export type EditRecord = z.infer<typeof editRecordSchema>;

export class SidecarError extends FileError {}

export class SidecarStore {
  constructor(private readonly dir: string) {}

  /** The record file of a photo (one per absolute path). */
  fileOf(photo: string): string {
    const key = createHash('sha256').update(path.resolve(photo)).digest('hex');
    return path.join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  /** The photo's record, undefined when it has none; `stale` when the photo changed since. */
  async read(photo: string): Promise<{ record: EditRecord; stale: boolean } | undefined> {
    const file = this.fileOf(photo);
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw new SidecarError(file, `cannot be read (${error.code ?? error.message})`);
    });
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SidecarError(file, `edit record of ${photo} is damaged (not JSON); the photo itself is untouched`);
    }
    const parsed = editRecordSchema.safeParse(json);
    if (!parsed.success)
      throw new SidecarError(file, `edit record of ${photo} is invalid; the photo itself is untouched`);
    const info = await stat(photo).catch(() => undefined);
    const stale = !info || info.size !== parsed.data.photoBytes || info.mtimeMs !== parsed.data.photoModifiedMs;
    return { record: parsed.data, stale };
  }

  /** Saves a photo's record atomically, stamped with the photo's current size and time. */
  async write(photo: string, edit: Pick<EditRecord, 'model' | 'faces'>): Promise<EditRecord> {
    const info = await stat(photo);
    const record: EditRecord = editRecordSchema.parse({
      version: 1,
      photo: path.resolve(photo),
      photoBytes: info.size,
      photoModifiedMs: info.mtimeMs,
      ...edit,
      updatedAt: new Date().toISOString(),
    });
    const file = this.fileOf(photo);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, [Buffer.from(JSON.stringify(record, null, 2))]);
    return record;
  }

  async remove(photo: string): Promise<void> {
    await rm(this.fileOf(photo), { force: true });
  }
}
