import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A failed write in the user's terms (disk full, no permission, read-only
 * disk, a file in the way), naming what was being written and where; undefined
 * for causes that have no better words than the system's own.
 */
export function describeWriteFailure(error: unknown, target: string, what: string): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `not enough disk space to write ${what} (${target}); free some space and try again`;
    case 'EACCES':
    case 'EPERM':
      return `cannot write ${what} to ${target}: permission denied; choose another folder`;
    case 'EROFS':
      return `cannot write ${what} to ${target}: the disk is read-only; choose another folder`;
    case 'ENOTDIR':
    case 'EEXIST':
      return `cannot write ${what} to ${target}: a file is in the way where a folder should be`;
    default:
      return undefined;
  }
}

/**
 * Makes sure `dir` exists and takes new files, before minutes of work depend
 * on it: creates it, then writes and removes a small probe file (a permission
 * check alone misses read-only disks, and root passes it everywhere).
 * Failures are thrown as `toError(message)` with the cause in words.
 */
export async function ensureWritableFolder(
  dir: string,
  what: string,
  toError: (message: string) => Error = (message) => new Error(message),
): Promise<void> {
  const fail = (error: unknown) => {
    const described = describeWriteFailure(error, dir, what);
    return described ? toError(described) : error;
  };
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    // A recursive mkdir says ENOENT when a parent cannot be made (on a read-only disk, say): ask the
    // nearest folder that exists for the real cause.
    throw fail((error as NodeJS.ErrnoException).code === 'ENOENT' ? await causeAt(dir, error) : error);
  }
  try {
    await probeWrite(dir);
  } catch (error) {
    throw fail(error);
  }
}

async function probeWrite(dir: string): Promise<void> {
  const probe = path.join(dir, `.write-test-${process.pid}-${randomBytes(3).toString('hex')}`);
  try {
    await writeFile(probe, 'ok');
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
}

/** The failure of a write in the nearest existing ancestor of `dir`, or `fallback` if that write works. */
async function causeAt(dir: string, fallback: unknown): Promise<unknown> {
  let parent = path.dirname(dir);
  while (
    !(await stat(parent).then(
      (s) => s.isDirectory(),
      () => false,
    )) &&
    parent !== path.dirname(parent)
  ) {
    parent = path.dirname(parent);
  }
  return probeWrite(parent).then(
    () => fallback,
    (error: unknown) => error,
  );
}
