import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { CheckpointError } from './checkpoint.js';

/*
 * The shipped models' manifest: `manifest.json` beside them lists each file's
 * size and SHA-256. A shipped model is checked against it before it loads, so a
 * damaged or swapped file is named as such instead of misbehaving.
 */

const manifestSchema = z.object({
  files: z.record(z.string(), z.object({ bytes: z.number().int().nonnegative(), sha256: z.string().length(64) })),
});
export type Manifest = z.infer<typeof manifestSchema>;

export function manifestFileOf(modelFile: string): string {
  return path.join(path.dirname(modelFile), 'manifest.json');
}

/** Whether a manifest beside the file lists it (a damaged manifest counts: loading then names the problem). */
export async function isListedInManifest(file: string): Promise<boolean> {
  const text = await readFile(manifestFileOf(file), 'utf8').catch(() => undefined);
  if (text === undefined) return false;
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(text));
    return !parsed.success || path.basename(file) in parsed.data.files;
  } catch {
    return true;
  }
}

/** Reads a model file after checking it against its folder's manifest; returns its bytes. */
export async function readVerified(file: string): Promise<Buffer> {
  const manifest = await readManifest(manifestFileOf(file));
  const entry = manifest.files[path.basename(file)];
  if (!entry) throw new CheckpointError(file, `not listed in ${manifestFileOf(file)}`);
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new CheckpointError(file, error.code === 'ENOENT' ? 'file not found' : `cannot be read (${error.code})`);
  });
  if (bytes.byteLength !== entry.bytes) {
    throw new CheckpointError(
      file,
      `is ${bytes.byteLength} bytes, the manifest says ${entry.bytes}: the file is damaged`,
    );
  }
  if (sha256(bytes) !== entry.sha256) throw new CheckpointError(file, 'does not match its SHA-256 in the manifest');
  return bytes;
}

/** Adds (or updates) a file's entry in its folder's manifest. */
export async function recordInManifest(file: string): Promise<void> {
  const manifestFile = manifestFileOf(file);
  const manifest = await readManifest(manifestFile).catch(() => ({ files: {} }) as Manifest);
  const bytes = await readFile(file);
  manifest.files[path.basename(file)] = { bytes: bytes.byteLength, sha256: sha256(bytes) };
  await writeFileAtomic(manifestFile, [Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]);
}

async function readManifest(file: string): Promise<Manifest> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new CheckpointError(file, 'the models manifest is missing');
  });
  try {
    return manifestSchema.parse(JSON.parse(text));
  } catch {
    throw new CheckpointError(file, 'the models manifest is damaged');
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
