import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread from `<name>.js` beside the calling module in a build.
 * Running from source (tests, tsx), the thread first registers tsx's loader,
 * which Node does not pass on to worker threads, and imports `<name>.ts`.
 */
export function spawnWorker(callerUrl: string, name: string): Worker {
  const compiled = new URL(`./${name}.js`, callerUrl);
  if (existsSync(fileURLToPath(compiled))) return new Worker(compiled);
  const tsxRoot = path.dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const loader = pathToFileURL(path.join(tsxRoot, 'dist/esm/api/index.mjs')).href;
  const source = new URL(`./${name}.ts`, callerUrl).href;
  const bootstrap = `import(${JSON.stringify(loader)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(bootstrap, { eval: true });
}
