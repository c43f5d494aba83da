import type { IpcMainInvokeEvent } from 'electron';
import { describe, expect, it, vi } from 'vitest';
import { requestChannels } from '../../src-main/contract/ipc-contract.js';
import { forbiddenEnvelope, registerRequestHandlers } from '../../src-main/app/ipc-handlers.js';
import { isTrustedSender } from '../../src-main/app/sender-check.js';
import type { FrameLike } from '../../src-main/app/sender-check.js';

const rendererUrl = 'file:///opt/mien/out/renderer/index.html';

function frame(overrides: Partial<FrameLike> = {}): FrameLike {
  return { url: rendererUrl, parent: null, processId: 4, frameToken: 'main-token', ...overrides };
}

describe('the sender check', () => {
  const main = frame();

  it('trusts the main window top frame on our renderer, whatever its hash or query', () => {
    expect(isTrustedSender(main, main, rendererUrl)).toBe(true);
    expect(isTrustedSender(frame({ url: `${rendererUrl}#/gallery` }), main, rendererUrl)).toBe(true);
    expect(isTrustedSender(frame({ url: `${rendererUrl}?view=models` }), main, rendererUrl)).toBe(true);
  });

  it('refuses a missing or detached frame, or no window', () => {
    expect(isTrustedSender(null, main, rendererUrl)).toBe(false);
    expect(isTrustedSender(main, undefined, rendererUrl)).toBe(false);
    expect(isTrustedSender(frame({ detached: true }), main, rendererUrl)).toBe(false);
  });

  it('refuses subframes and other frames', () => {
    expect(isTrustedSender(frame({ parent: main }), main, rendererUrl)).toBe(false);
    expect(isTrustedSender(frame({ frameToken: 'other' }), main, rendererUrl)).toBe(false);
    expect(isTrustedSender(frame({ processId: 5 }), main, rendererUrl)).toBe(false);
  });

  it('refuses the main frame once it shows another page', () => {
    for (const url of [
      'file:///tmp/evil.html',
      'file:///opt/mien/out/renderer/index.html.evil',
      'https://example.com/opt/mien/out/renderer/index.html',
      'file://host/opt/mien/out/renderer/index.html',
      'about:blank',
      '',
    ]) {
      const navigated = frame({ url });
      expect(isTrustedSender(navigated, navigated, rendererUrl), url).toBe(false);
    }
  });
});

describe('the request handlers', () => {
  function registered(trusted: boolean) {
    const handlers = new Map<string, (event: IpcMainInvokeEvent, payload: unknown) => Promise<unknown>>();
    const ipcMain = { handle: vi.fn((channel: string, handler) => void handlers.set(channel, handler)) };
    const dispatch = vi.fn(async () => ({ ok: true as const, value: 'reply' }));
    registerRequestHandlers(ipcMain, requestChannels, dispatch, () => trusted);
    return { handlers, dispatch };
  }

  it('handles every request channel of the contract', () => {
    expect([...registered(true).handlers.keys()].sort()).toEqual([...requestChannels].sort());
  });

  it('dispatches a trusted request on its own channel', async () => {
    const { handlers, dispatch } = registered(true);
    const reply = await handlers.get('photo:faces')?.({} as IpcMainInvokeEvent, { photo: '/p/a.jpg' });
    expect(dispatch).toHaveBeenCalledWith('photo:faces', { photo: '/p/a.jpg' });
    expect(reply).toEqual({ ok: true, value: 'reply' });
  });

  it('answers an untrusted sender with an error, never reaching the services', async () => {
    const { handlers, dispatch } = registered(false);
    const reply = await handlers.get('models:delete')?.({} as IpcMainInvokeEvent, { id: 'a', confirmed: true });
    expect(reply).toEqual(forbiddenEnvelope);
    expect(dispatch).not.toHaveBeenCalled();
  });
});
