import { EventEmitter } from 'node:events';
import type { Session, WebContents } from 'electron';
import { describe, expect, it, vi } from 'vitest';
import { appPaths } from '../../src-main/app/app-paths.js';
import {
  externalUrlToOpen,
  hardenSession,
  hardenWebContents,
  mainWindowOptions,
  secureWebPreferences,
} from '../../src-main/app/window.js';

describe('the main window', () => {
  it('runs the renderer isolated, sandboxed and without Node', () => {
    expect(secureWebPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    });
  });

  it('builds its options from the secure preferences and the compiled preload', () => {
    const paths = appPaths('/opt/mien');
    const options = mainWindowOptions(paths.preload, { width: 1000, height: 700, maximized: false });
    expect(options.webPreferences).toEqual({ ...secureWebPreferences, preload: '/opt/mien/out/preload.cjs' });
    expect(options).toMatchObject({ width: 1000, height: 700, show: false });
    expect(options.x).toBeUndefined();
    expect(paths.rendererHtml).toBe('/opt/mien/out/renderer/index.html');
    expect(paths.rendererUrl).toBe('file:///opt/mien/out/renderer/index.html');
  });
});

/** Just enough of WebContents: its events and the window-open handler. */
class FakeContents extends EventEmitter {
  openHandler?: (details: { url: string }) => { action: string };
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }): void {
    this.openHandler = handler;
  }
  fire(name: string, url = 'https://example.com/'): { preventDefault: ReturnType<typeof vi.fn> } {
    const event = { url, preventDefault: vi.fn() };
    this.emit(name, event, url);
    return event;
  }
}

describe('web contents hardening', () => {
  function hardened(): { contents: FakeContents; openExternal: ReturnType<typeof vi.fn> } {
    const contents = new FakeContents();
    const openExternal = vi.fn(async () => undefined);
    hardenWebContents(contents as unknown as WebContents, { openExternal });
    return { contents, openExternal };
  }

  it('denies every new window and opens only http(s) links outside', () => {
    const { contents, openExternal } = hardened();
    expect(contents.openHandler?.({ url: 'https://example.com/help' })).toEqual({ action: 'deny' });
    expect(openExternal).toHaveBeenCalledWith('https://example.com/help');
    for (const url of ['file:///etc/passwd', 'smb://host/share', 'javascript:alert(1)', 'mien-photo://photo/']) {
      expect(contents.openHandler?.({ url })).toEqual({ action: 'deny' });
    }
    expect(openExternal).toHaveBeenCalledTimes(1);
  });

  it('blocks navigation, redirects and webviews', () => {
    const { contents, openExternal } = hardened();
    expect(contents.fire('will-navigate', 'file:///tmp/evil.html').preventDefault).toHaveBeenCalled();
    expect(contents.fire('will-redirect').preventDefault).toHaveBeenCalled();
    expect(contents.fire('will-attach-webview').preventDefault).toHaveBeenCalled();
    expect(openExternal).not.toHaveBeenCalled();
  });

  it('recognises only http and https as external links', () => {
    expect(externalUrlToOpen('https://example.com')).toBe('https://example.com/');
    expect(externalUrlToOpen('http://example.com/a')).toBe('http://example.com/a');
    expect(externalUrlToOpen('file:///C:/Windows/system32/calc.exe')).toBeNull();
    expect(externalUrlToOpen('not a url')).toBeNull();
  });
});

describe('session hardening', () => {
  function hardenedSession() {
    const handlers: {
      request?: (contents: unknown, permission: string, callback: (granted: boolean) => void) => void;
      check?: () => boolean;
      headers?: (
        details: { responseHeaders?: Record<string, string[]> },
        callback: (response: { responseHeaders: Record<string, string[]> }) => void,
      ) => void;
    } = {};
    const session = {
      setPermissionRequestHandler: (handler: typeof handlers.request) => (handlers.request = handler),
      setPermissionCheckHandler: (handler: typeof handlers.check) => (handlers.check = handler),
      webRequest: { onHeadersReceived: (handler: typeof handlers.headers) => (handlers.headers = handler) },
    };
    hardenSession(session as unknown as Session);
    return handlers;
  }

  it('refuses every permission', () => {
    const handlers = hardenedSession();
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal']) {
      const callback = vi.fn();
      handlers.request?.({}, permission, callback);
      expect(callback).toHaveBeenCalledWith(false);
    }
    expect(handlers.check?.()).toBe(false);
  });

  it('puts our policy on responses in place of theirs', () => {
    const handlers = hardenedSession();
    const callback = vi.fn();
    handlers.headers?.(
      { responseHeaders: { 'content-security-policy': ['default-src *'], 'X-Kept': ['1'] } },
      callback,
    );
    const headers = callback.mock.calls[0]?.[0].responseHeaders as Record<string, string[]>;
    expect(headers['X-Kept']).toEqual(['1']);
    expect(headers['content-security-policy']).toBeUndefined();
    expect(headers['Content-Security-Policy']?.[0]).toMatch(/^default-src 'self'; /);
  });
});
