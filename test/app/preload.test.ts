import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MienBridge } from '../../src-main/contract/ipc-contract.js';

const electron = vi.hoisted(() => ({
  contextBridge: { exposeInMainWorld: vi.fn() },
  ipcRenderer: { invoke: vi.fn(), on: vi.fn(), removeListener: vi.fn(), send: vi.fn(), sendSync: vi.fn() },
  webUtils: { getPathForFile: vi.fn(() => '/home/ana/dropped.jpg') },
}));
vi.mock('electron', () => electron);

/** The bridge as the page sees it: what the preload handed to exposeInMainWorld. */
let bridge: MienBridge;
beforeAll(async () => {
  await import('../../src-main/app/preload.js');
  expect(electron.contextBridge.exposeInMainWorld).toHaveBeenCalledTimes(1);
  const [name, exposed] = electron.contextBridge.exposeInMainWorld.mock.calls[0] as [string, MienBridge];
  expect(name).toBe('mien');
  bridge = exposed;
});

// Calls the bridge the way a page could, with channel names the types would not allow.
type LooseBridge = {
  invoke(channel: string, payload: unknown): Promise<unknown>;
  on(event: string, listener: unknown): () => void;
};

describe('the preload bridge', () => {
  beforeEach(() => {
    for (const mock of [...Object.values(electron.ipcRenderer), electron.webUtils.getPathForFile]) mock.mockClear();
  });

  it('exposes exactly the bridge, never ipcRenderer', async () => {
    expect(Object.keys(bridge).sort()).toEqual(['invoke', 'on', 'pathOfDroppedFile', 'photoUrl']);
    expect(Object.values(bridge)).not.toContain(electron.ipcRenderer);
    for (const value of Object.values(bridge)) expect(typeof value).toBe('function');
  });

  it('sends a known request and returns its envelope', async () => {
    electron.ipcRenderer.invoke.mockResolvedValueOnce({ ok: true, value: { folders: ['/p'] } });
    await expect(bridge.invoke('library:recent', {})).resolves.toEqual({ ok: true, value: { folders: ['/p'] } });
    expect(electron.ipcRenderer.invoke).toHaveBeenCalledWith('library:recent', {});
  });

  it.each(['shell:openExternal', '__proto__', 'toString', 'constructor', 'job:progress', ''])(
    'refuses the request channel %j without sending it',
    async (channel) => {
      await expect((bridge as unknown as LooseBridge).invoke(channel, {})).resolves.toMatchObject({
        ok: false,
        error: { code: 'unknown-channel' },
      });
      expect(electron.ipcRenderer.invoke).not.toHaveBeenCalled();
      expect(electron.ipcRenderer.send).not.toHaveBeenCalled();
    },
  );

  it('wraps an IPC failure in an envelope', async () => {
    electron.ipcRenderer.invoke.mockRejectedValueOnce(new Error('An object could not be cloned.'));
    await expect(bridge.invoke('app:status', {})).resolves.toEqual({
      ok: false,
      error: { code: 'ipc-failed', message: 'An object could not be cloned.' },
    });
  });

  it('subscribes to a known event, hands over only its body, and unsubscribes', async () => {
    const listener = vi.fn();
    const unsubscribe = bridge.on('job:progress', listener);
    const [channel, forward] = electron.ipcRenderer.on.mock.calls[0] as [string, (...args: unknown[]) => void];
    expect(channel).toBe('job:progress');
    forward({ sender: electron.ipcRenderer, ports: [] }, { jobId: 'j1', done: 1 });
    expect(listener).toHaveBeenCalledWith({ jobId: 'j1', done: 1 });
    expect(listener.mock.calls[0]).toHaveLength(1);
    unsubscribe();
    expect(electron.ipcRenderer.removeListener).toHaveBeenCalledWith('job:progress', forward);
  });

  it.each(['photo:faces', 'ipc-internal', '__proto__', 'hasOwnProperty'])('refuses to listen to %j', (event) => {
    expect(() => (bridge as unknown as LooseBridge).on(event, () => undefined)).toThrow(/no such event channel/);
    expect(electron.ipcRenderer.on).not.toHaveBeenCalled();
  });

  it('builds photo URLs that keep .. and spaces inside the path parameter', async () => {
    const url = new URL(bridge.photoUrl('/home/ana/../ana/My Photos/a b.jpg', 256));
    expect(url.protocol).toBe('mien-photo:');
    expect(url.host).toBe('photo');
    expect(url.pathname).toBe('/');
    expect(url.searchParams.get('path')).toBe('/home/ana/../ana/My Photos/a b.jpg');
    expect(url.searchParams.get('size')).toBe('256');
    expect(url.href).not.toMatch(/ |\/\.\.\//);
    expect(bridge.photoUrl('/p/a.jpg')).toBe('mien-photo://photo/?path=%2Fp%2Fa.jpg');
  });

  it('gets the path of a dropped file from webUtils', async () => {
    const file = new File(['x'], 'dropped.jpg');
    expect(bridge.pathOfDroppedFile?.(file)).toBe('/home/ana/dropped.jpg');
    expect(electron.webUtils.getPathForFile).toHaveBeenCalledWith(file);
  });
});
