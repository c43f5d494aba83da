import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../core/util/package-root.js';
import { JsonFileStore } from '../../host/json-store.js';
import { startHost } from '../../host/ws-host.js';
import { positiveInt } from '../arguments.js';
import type { RunCommand } from '../run-command.js';

/** `mien host`: the desktop app's renderer and services, served to a browser on this machine. */
export function registerHostCommand(program: Command, run: RunCommand): void {
  program
    .command('host')
    .description('serve the app to a browser on this machine (127.0.0.1 only, with a secret token in the URL)')
    .option('--port <n>', 'port (default: a free one)', positiveInt)
    .option('--data <dir>', "the app's own folder: settings, edit records, thumbnails, models", defaultDataDir())
    .action((options: { port?: number; data: string }) =>
      run(async (reporter) => {
        const root = packageRoot();
        const rendererDir = path.join(root, 'out', 'renderer');
        if (!existsSync(path.join(rendererDir, 'index.html'))) {
          throw new Error(`${rendererDir}: the renderer is not built; run \`npm run build\` first`);
        }
        const store = new JsonFileStore(path.join(options.data, 'settings.json'));
        const host = await startHost({
          rendererDir,
          resourcesDir: path.join(root, 'resources'),
          dataDir: options.data,
          store,
          ...(options.port ? { port: options.port } : {}),
        });
        reporter.result({ url: host.url, port: host.port, data: options.data }, () => `Mien is at ${host.url}`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await host.close();
        await store.flush();
      }),
    );
}

function defaultDataDir(): string {
  const base = process.env['XDG_DATA_HOME'] ?? path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'mien-host');
}
