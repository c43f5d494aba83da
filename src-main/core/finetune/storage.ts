import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { slug as safeSlug } from '../util/slug.js';

/** A fine-tune problem the user can act on; the message says what to do. */
export class FinetuneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FinetuneError';
  }
}

/**
 * Turns a file-system failure while writing `target` into a message that names
 * the cause in the user's terms (disk full, no permission, a file in the way);
 * other errors are returned unchanged. `what` says what was being written.
 */
export function describeWriteError(error: unknown, target: string, what: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new FinetuneError(`not enough disk space to write ${what} (${target}); free some space and try again`);
    case 'EACCES':
    case 'EPERM':
      return new FinetuneError(`cannot write ${what} to ${target}: permission denied; choose another folder`);
    case 'EROFS':
      return new FinetuneError(`cannot write ${what} to ${target}: the disk is read-only; choose another folder`);
    case 'ENOTDIR':
    case 'EEXIST':
      return new FinetuneError(`cannot write ${what} to ${target}: a file is in the way where a folder should be`);
    default:
      return error;
  }
}

/**
 * Makes sure `dir` exists and takes new files, before minutes of work depend
 * on it: creates it, then writes and removes a small probe file.
 */
export async function ensureWritableFolder(dir: string, what: string): Promise<void> {
  const probe = path.join(dir, `.write-test-${process.pid}-${randomBytes(3).toString('hex')}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, 'ok');
  } catch (error) {
    throw describeWriteError(error, dir, what);
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
}

/** Runs a write, translating file-system failures with `describeWriteError`. */
export async function writing<T>(target: string, what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw describeWriteError(error, target, what);
  }
}

/** A file-name-safe id from a user's name for something ("Anna's smile" -> "anna-s-smile"). */
export function slug(name: string): string {
  return safeSlug(name, 'profile');
}
