import path from 'node:path';
import { packageRoot } from '../util/package-root.js';

/** Where the shipped model lives: resources/models beside package.json (electron-builder copies the folder). */
export function defaultModelPath(): string {
  return path.join(packageRoot(), 'resources', 'models', 'default.mien');
}
