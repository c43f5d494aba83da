import { slug as safeSlug } from '../util/slug.js';
import { describeWriteFailure, ensureWritableFolder as ensureWritable } from '../util/write-failure.js';

/** A fine-tune problem the user can act on; the message says what to do. */
export class FinetuneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FinetuneError';
  }
}

/**
 * Turns a file-system failure while writing `target` into a FinetuneError that
 * names the cause in the user's terms; other errors are returned unchanged.
 * `what` says what was being written.
 */
export function describeWriteError(error: unknown, target: string, what: string): unknown {
  const described = describeWriteFailure(error, target, what);
  return described ? new FinetuneError(described) : error;
}

/** Makes sure `dir` exists and takes new files (see util/write-failure.ts), failing with a FinetuneError. */
export function ensureWritableFolder(dir: string, what: string): Promise<void> {
  return ensureWritable(dir, what, (message) => new FinetuneError(message));
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
