import { execFileSync } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';

export interface ReadOnlyFolder {
  dir: string;
  /** makes it writable (or unmounts it) again, so the test's scratch space can be removed */
  release(): Promise<void>;
}

/**
 * A folder this process cannot write to. An ordinary user gets a folder
 * without write permission; root passes permission checks, so for root it is a
 * read-only tmpfs, where the system lets it mount one. Undefined when neither
 * is possible (the caller skips).
 */
export async function readOnlyFolder(dir: string): Promise<ReadOnlyFolder | undefined> {
  await mkdir(dir, { recursive: true });
  if (process.getuid?.() !== 0) {
    await chmod(dir, 0o555);
    return { dir, release: () => chmod(dir, 0o755) };
  }
  if (!mountRamDisk(dir, '1m', { readOnly: true })) return undefined;
  return {
    dir,
    release: async () => {
      execFileSync('umount', [dir]);
    },
  };
}

/** A tiny RAM disk at `dir`, where the system lets this process mount one (root in a container usually may). */
export function mountRamDisk(dir: string, size: string, options: { readOnly?: boolean } = {}): boolean {
  const flags = `${options.readOnly ? 'ro,' : ''}size=${size}`;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', flags, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
