#!/usr/bin/env node
// The command line runs the compiled core (npm ci builds it through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../out/src-main/cli/mien.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('mien: the command line is not built yet; run `npm run build` first\n');
  process.exit(1);
}
await import(entry.href);
