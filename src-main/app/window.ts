import type {
  BrowserWindowConstructorOptions,
  Session,
  Shell,
  WebContents,
  WebPreferences,
  WindowOpenHandlerResponse,
} from 'electron';
import { withContentSecurityPolicy } from './csp.js';
import type { InitialWindowBounds } from './window-state.js';
import { minimumWindowSize } from './window-state.js';

/** The renderer runs as an untrusted web page: no Node, sandboxed, isolated from the preload. */
export const secureWebPreferences = {
  contextIsolation: true,
  sandbox: true,
  nodeIntegration: false,
  nodeIntegrationInWorker: false,
  nodeIntegrationInSubFrames: false,
  webSecurity: true,
  allowRunningInsecureContent: false,
  webviewTag: false,
  spellcheck: false,
  experimentalFeatures: false,
  navigateOnDragDrop: false,
} as const satisfies WebPreferences;

export function mainWindowOptions(preload: string, bounds: InitialWindowBounds): BrowserWindowConstructorOptions {
  return {
    x: bounds.x,
    y: bounds.y,
    width: bounds.width,
    height: bounds.height,
    minWidth: minimumWindowSize.width,
    minHeight: minimumWindowSize.height,
    title: 'Mien',
    // Shown once the page has painted, so the window does not flash white.
    show: false,
    backgroundColor: '#1e1e1e',
    webPreferences: { ...secureWebPreferences, preload },
  };
}

/** An http(s) link the user clicked, to open in their browser; anything else (file:, custom schemes) is not opened. */
export function externalUrlToOpen(raw: string): string | null {
  try {
    const url = new URL(raw);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/** No new windows, no navigation away from the renderer, no webviews: for every web contents the app makes. */
export function hardenWebContents(contents: WebContents, shell: Pick<Shell, 'openExternal'>): void {
  contents.setWindowOpenHandler(({ url }): WindowOpenHandlerResponse => {
    openOutside(url, shell);
    return { action: 'deny' };
  });
  contents.on('will-navigate', (event) => {
    event.preventDefault();
    openOutside(event.url, shell);
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

/** Every permission (camera, notifications, ...) is refused, and every response gets our CSP. */
export function hardenSession(session: Session): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: withContentSecurityPolicy(details.responseHeaders) });
  });
}

function openOutside(url: string, shell: Pick<Shell, 'openExternal'>): void {
  const external = externalUrlToOpen(url);
  if (external) void shell.openExternal(external).catch(() => undefined);
}
