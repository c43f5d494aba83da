import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Gives the whole test run one temporary folder, removed when it ends. Tests
 * make their scratch folders under os.tmpdir(), which reads TMPDIR, and the
 * test files, and every command they start, inherit it. Without it each run
 * left about 2 GB of checkpoints, models and images behind.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'mien-tests-'));
  const previous = process.env['TMPDIR'];
  process.env['TMPDIR'] = root;
  return async () => {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
    await rm(root, { recursive: true, force: true });
  };
}
