import { decode, encode } from '@msgpack/msgpack';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { HostFrame } from '../../src-main/contract/ws-protocol.js';
import { JsonFileStore } from '../../src-main/host/json-store.js';
import { startHost, type RunningHost } from '../../src-main/host/ws-host.js';

const photosDir = path.resolve(process.cwd(), '../shared/data/photos');
let root: string;
let host: RunningHost;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'mien-host-'));
  await mkdir(path.join(root, 'renderer'));
  await writeFile(path.join(root, 'renderer', 'index.html'), '<!doctype html><title>Mien</title>');
  await writeFile(path.join(root, 'secret.txt'), 'outside the renderer');
  host = await startHost({
    rendererDir: path.join(root, 'renderer'),
    resourcesDir: path.join(root, 'no-resources'),
    dataDir: path.join(root, 'data'),
    store: new JsonFileStore(path.join(root, 'data', 'settings.json')),
  });
});

afterAll(async () => {
  await host?.close();
  await rm(root, { recursive: true, force: true });
});

function connect(query: string, origin = `http://127.0.0.1:${host.port}`): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/ws${query}`, { origin });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function invoke(ws: WebSocket, id: number, channel: string, payload: unknown): Promise<HostFrame> {
  return new Promise((resolve) => {
    const listener = (data: Buffer) => {
      const frame = decode(data) as HostFrame;
      if (frame.type === 'reply' && frame.id === id) {
        ws.off('message', listener);
        resolve(frame);
      }
    };
    ws.on('message', listener);
    ws.send(encode({ type: 'invoke', id, channel, payload }));
  });
}

describe('loopback WebSocket host', () => {
  it('listens on 127.0.0.1 with a long random token in its URL', () => {
    expect(host.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${host.port}/#token=[0-9a-f]{48}$`));
  });

  it('serves the renderer with a strict CSP, and nothing outside its folder', async () => {
    const page = await fetch(`http://127.0.0.1:${host.port}/`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
    for (const probe of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt']) {
      const response = await fetch(`http://127.0.0.1:${host.port}${probe}`);
      expect([403, 404]).toContain(response.status);
      expect(await response.text()).not.toContain('outside the renderer');
    }
  });

  it('refuses sockets without the token or from another origin', async () => {
    await expect(connect('')).rejects.toThrow(/403/);
    await expect(connect('?token=wrong')).rejects.toThrow(/403/);
    await expect(connect(`?token=${host.token}`, 'https://evil.example')).rejects.toThrow(/403/);
  });

  it('answers the contract over MessagePack, validation included', async () => {
    const ws = await connect(`?token=${host.token}`);
    const status = await invoke(ws, 1, 'app:status', {});
    expect(status).toMatchObject({ type: 'reply', id: 1, envelope: { ok: true } });
    const value = (status as { envelope: { value: { modelError: string; nativeDialogs: boolean } } }).envelope.value;
    expect(value.nativeDialogs).toBe(false);
    expect(value.modelError).toMatch(/default\.mien/);
    const bad = await invoke(ws, 2, 'library:open', { folder: 7 });
    expect(bad).toMatchObject({ envelope: { ok: false, error: { code: 'invalid-payload' } } });
    const opened = await invoke(ws, 3, 'library:open', { folder: photosDir });
    expect(opened).toMatchObject({ envelope: { ok: true } });
    ws.close();
  });

  it('closes a socket that sends something other than MessagePack frames', async () => {
    const ws = await connect(`?token=${host.token}`);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('{"type":"invoke"}');
    expect(await closed).toBe(1003);
  });

  it('serves photos only with the token and only from opened folders', async () => {
    const url = (file: string, token = host.token) =>
      `http://127.0.0.1:${host.port}/photo?path=${encodeURIComponent(file)}&size=64&token=${token}`;
    expect((await fetch(url(path.join(photosDir, 'obama.jpg'), 'x'.repeat(48)))).status).toBe(401);
    expect((await fetch(url(path.join(root, 'secret.txt')))).status).toBe(403);
    const photo = await fetch(url(path.join(photosDir, 'obama.jpg')));
    expect(photo.status).toBe(200);
    expect(photo.headers.get('content-type')).toBe('image/jpeg');
  });
});
