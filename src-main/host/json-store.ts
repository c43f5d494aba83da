import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../core/util/atomic-write.js';
import type { KeyValueStore } from '../services/app-services.js';

/**
 * Settings and app state as one JSON file, for the browser host (the desktop
 * app uses electron-store). Writes are atomic and serialised; a damaged file
 * is set aside as `.damaged` and the defaults apply.
 */
export class JsonFileStore implements KeyValueStore {
  private values: Record<string, unknown>;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {
    this.values = JsonFileStore.load(file);
  }

  get(key: string): unknown {
    return this.values[key];
  }

  set(key: string, value: unknown): void {
    this.values = { ...this.values, [key]: value };
    const snapshot = Buffer.from(JSON.stringify(this.values, null, 2));
    this.writing = this.writing
      .then(() => mkdir(path.dirname(this.file), { recursive: true }))
      .then(() => writeFileAtomic(this.file, [snapshot]))
      .catch((error: Error) => console.error(`${this.file}: settings not saved (${error.message})`));
  }

  /** Resolves once every change so far is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }

  private static load(file: string): Record<string, unknown> {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return {};
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        return parsed as Record<string, unknown>;
    } catch {
      // fall through: a damaged file must not stop the app
    }
    console.error(`${file}: settings file is damaged; using the defaults`);
    return {};
  }
}
