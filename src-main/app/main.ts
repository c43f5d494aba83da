import { app, BrowserWindow, dialog, ipcMain, Menu, protocol, screen, session, shell } from 'electron';
import Store from 'electron-store';
import { requestChannels } from '../contract/ipc-contract.js';
import type { EventChannel } from '../contract/ipc-contract.js';
import { createAppServices } from '../services/app-services.js';
import type { AppServices, KeyValueStore } from '../services/app-services.js';
import { appMenuTemplate } from './app-menu.js';
import { appPaths } from './app-paths.js';
import { electronDialogs } from './dialogs.js';
import { registerRequestHandlers } from './ipc-handlers.js';
import { answerPhotoRequest } from './photo-protocol.js';
import { photoScheme } from './photo-url.js';
import { isTrustedSender } from './sender-check.js';
import { hardenSession, hardenWebContents, mainWindowOptions } from './window.js';
import { initialWindowBounds } from './window-state.js';
import type { WindowState } from './window-state.js';

/*
 * The Electron shell: one window, the `mien-photo:` scheme and the IPC
 * handlers, all wired to the app services, which do the work.
 */

const windowStateKey = 'windowState';

// Both must happen before the app is ready.
protocol.registerSchemesAsPrivileged([
  { scheme: photoScheme, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
]);
app.enableSandbox();

if (app.requestSingleInstanceLock()) {
  start().catch((error: unknown) => {
    dialog.showErrorBox('Mien could not start', error instanceof Error ? error.message : String(error));
    app.exit(1);
  });
} else {
  // Another Mien is running; it gets focus through its 'second-instance' event.
  app.quit();
}

async function start(): Promise<void> {
  const paths = appPaths(app.getAppPath());
  const store = new Store({ name: 'settings' });
  let mainWindow: BrowserWindow | null = null;
  const currentWindow = (): BrowserWindow | null => (mainWindow && !mainWindow.isDestroyed() ? mainWindow : null);

  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, shell));
  app.on('second-instance', () => focus(currentWindow()));
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  await app.whenReady();
  hardenSession(session.defaultSession);
  Menu.setApplicationMenu(Menu.buildFromTemplate(appMenuTemplate(process.platform)));

  const services = await createAppServices({
    dataDir: app.getPath('userData'),
    resourcesDir: app.isPackaged ? process.resourcesPath : paths.devResources,
    store,
    dialogs: electronDialogs(dialog, currentWindow, app.getPath('documents'), shell),
    emit: (event: EventChannel, body: unknown) => currentWindow()?.webContents.send(event, body),
  });
  closeServicesOnQuit(services);

  protocol.handle(photoScheme, (request) =>
    answerPhotoRequest(request, (path, size) => services.servePhoto(path, size)),
  );
  registerRequestHandlers(
    ipcMain,
    requestChannels,
    (channel, payload) => services.dispatch(channel, payload),
    (event) => isTrustedSender(event.senderFrame, currentWindow()?.webContents.mainFrame, paths.rendererUrl),
  );

  const openMainWindow = (): void => {
    mainWindow = createMainWindow(paths.preload, paths.rendererHtml, store);
    mainWindow.on('closed', () => (mainWindow = null));
  };
  // macOS keeps the app running without windows; clicking the dock icon opens one again.
  app.on('activate', () => {
    if (!currentWindow()) openMainWindow();
  });
  openMainWindow();
}

function createMainWindow(preload: string, rendererHtml: string, store: KeyValueStore): BrowserWindow {
  const workAreas = screen.getAllDisplays().map((display) => display.workArea);
  const bounds = initialWindowBounds(store.get(windowStateKey), workAreas);
  const window = new BrowserWindow(mainWindowOptions(preload, bounds));
  window.once('ready-to-show', () => {
    if (bounds.maximized) window.maximize();
    window.show();
  });
  window.on('close', () => {
    const state: WindowState = { bounds: window.getNormalBounds(), maximized: window.isMaximized() };
    store.set(windowStateKey, state);
  });
  window.loadFile(rendererHtml).catch((error: unknown) => {
    console.error(`the renderer did not load from ${rendererHtml}:`, error);
  });
  return window;
}

function focus(window: BrowserWindow | null): void {
  if (!window) return;
  if (window.isMinimized()) window.restore();
  window.focus();
}

/** Holds the quit until the services have stopped their worker and written what they keep. */
function closeServicesOnQuit(services: AppServices): void {
  let state: 'running' | 'closing' | 'closed' = 'running';
  app.on('will-quit', (event) => {
    if (state === 'closed') return;
    event.preventDefault();
    if (state === 'closing') return;
    state = 'closing';
    services
      .close()
      .catch((error: unknown) => console.error('closing the app services failed:', error))
      .finally(() => {
        state = 'closed';
        app.quit();
      });
  });
}
