import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { FileError } from '../core/util/file-error.js';

export class AccessError extends FileError {}

/**
 * The folders the user opened (or chose for output): the renderer reaches
 * files inside them and nothing else. Paths are compared after resolving
 * symbolic links and `..`, so neither a link inside an opened folder nor a
 * crafted path leads out of it.
 */
export class FolderAccess {
  private readonly roots = new Set<string>();

  /** Opens a folder to the renderer; returns its real path. */
  async grant(folder: string): Promise<string> {
    const real = await realpath(path.resolve(folder)).catch(() => undefined);
    if (!real) throw new AccessError(folder, 'folder not found');
    if (!(await stat(real)).isDirectory()) throw new AccessError(folder, 'not a folder');
    this.roots.add(real);
    return real;
  }

  /** The real path of a file inside an opened folder; an AccessError otherwise. */
  async check(file: string): Promise<string> {
    if (!path.isAbsolute(file)) throw new AccessError(file, 'not an absolute path');
    const real = await realpath(file).catch(() => undefined);
    if (!real) throw new AccessError(file, 'file not found');
    if (!this.isInside(real)) throw new AccessError(file, 'outside the folders you opened');
    return real;
  }

  /** Whether a folder was opened or lies inside one (it need not exist yet, e.g. an output folder). */
  async allowsFolder(folder: string): Promise<boolean> {
    if (!path.isAbsolute(folder)) return false;
    // Resolve what exists of it, so a link on the way cannot lead elsewhere.
    let existing = path.resolve(folder);
    const rest: string[] = [];
    for (;;) {
      const real = await realpath(existing).catch(() => undefined);
      if (real) return this.isInside(path.join(real, ...rest));
      const parent = path.dirname(existing);
      if (parent === existing) return false;
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }

  private isInside(real: string): boolean {
    for (const root of this.roots) {
      const relative = path.relative(root, real);
      if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) return true;
    }
    return false;
  }
}
