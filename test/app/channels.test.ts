import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { eventChannelNames, isRequestChannel, requestChannelNames } from '../../src-main/app/channels.js';
import { eventChannels, requestChannels } from '../../src-main/contract/ipc-contract.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('the preload channel lists', () => {
  it('match the contract', () => {
    expect([...requestChannelNames].sort()).toEqual([...requestChannels].sort());
    expect([...eventChannelNames].sort()).toEqual([...eventChannels].sort());
  });

  it('do not take inherited names for channels', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'valueOf']) expect(isRequestChannel(name)).toBe(false);
  });
});

describe('the preload bundle', () => {
  it('is one small CommonJS file that needs nothing but electron', async () => {
    // The same options as the build:preload script in package.json.
    const result = await build({
      entryPoints: [path.join(root, 'src-main/app/preload.ts')],
      bundle: true,
      platform: 'browser',
      format: 'cjs',
      external: ['electron'],
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]?.text ?? '';
    const required = [...code.matchAll(/require\(["']([^"']+)["']\)/g)].map((match) => match[1]);
    expect(new Set(required)).toEqual(new Set(['electron']));
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
    // zod or Node code sneaking in would show up as size.
    expect(code.length).toBeLessThan(20_000);
  });
});
