import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { requestChannels } from '../../src-main/contract/ipc-contract.js';
import { secureWebPreferences } from '../../src-main/app/window.js';

/*
 * main.ts against a stand-in for Electron: what it registers, with which
 * settings, and how requests, photos, events and quitting reach the services.
 */

const fake = await vi.hoisted(async () => {
  // vi.hoisted runs before the imports above, so it brings its own.
  const { EventEmitter: Emitter } = await import('node:events');
  const order: string[] = [];
  const mainFrame = { url: 'file:///opt/mien/out/renderer/index.html', parent: null, processId: 7, frameToken: 't1' };

  class FakeWindow extends Emitter {
    static instances: FakeWindow[] = [];
    webContents = { send: vi.fn(), mainFrame };
    loadFile = vi.fn(async () => undefined);
    constructor(public options: Record<string, unknown>) {
      super();
      FakeWindow.instances.push(this);
    }
    isDestroyed = () => false;
    isMinimized = () => false;
    isMaximized = () => true;
    getNormalBounds = () => ({ x: 10, y: 20, width: 1000, height: 700 });
    maximize = vi.fn();
    show = vi.fn();
    focus = vi.fn();
    restore = vi.fn();
  }

  const app = Object.assign(new Emitter(), {
    requestSingleInstanceLock: vi.fn(() => true),
    enableSandbox: vi.fn(() => order.push('enableSandbox')),
    whenReady: vi.fn(async () => void order.push('ready')),
    getAppPath: () => '/opt/mien',
    getPath: (name: string) => `/home/ana/.config/${name}`,
    isPackaged: false,
    quit: vi.fn(),
    exit: vi.fn(),
  });
  const services = {
    dispatch: vi.fn(async () => ({ ok: true, value: 'dispatched' })),
    servePhoto: vi.fn(async () => ({ status: 200, mime: 'image/jpeg', body: Buffer.from([1, 2, 3]) })),
    close: vi.fn(async () => undefined),
  };
  const storeData = new Map<string, unknown>();
  return {
    order,
    mainFrame,
    FakeWindow,
    app,
    services,
    storeData,
    createAppServices: vi.fn(async (_options: Record<string, unknown>) => services),
    menu: { buildFromTemplate: vi.fn((template: unknown) => ({ template })), setApplicationMenu: vi.fn() },
    ipcHandlers: new Map<string, (event: unknown, payload: unknown) => Promise<unknown>>(),
    protocolHandlers: new Map<string, (request: Request) => Promise<Response>>(),
    protocol: {
      registerSchemesAsPrivileged: vi.fn(() => order.push('registerSchemesAsPrivileged')),
    },
    session: {
      setPermissionRequestHandler: vi.fn(),
      setPermissionCheckHandler: vi.fn(),
      webRequest: { onHeadersReceived: vi.fn() },
    },
  };
});

vi.mock('electron', () => ({
  app: fake.app,
  BrowserWindow: fake.FakeWindow,
  dialog: { showOpenDialog: vi.fn(), showSaveDialog: vi.fn(), showErrorBox: vi.fn() },
  ipcMain: { handle: (channel: string, handler: never) => fake.ipcHandlers.set(channel, handler) },
  Menu: fake.menu,
  protocol: {
    ...fake.protocol,
    handle: (scheme: string, handler: never) => fake.protocolHandlers.set(scheme, handler),
  },
  screen: { getAllDisplays: () => [{ workArea: { x: 0, y: 0, width: 1920, height: 1050 } }] },
  session: { defaultSession: fake.session },
  shell: { openExternal: vi.fn() },
}));
vi.mock('electron-store', () => ({
  default: class {
    constructor(public options: unknown) {}
    get = (key: string) => fake.storeData.get(key);
    set = (key: string, value: unknown) => void fake.storeData.set(key, value);
  },
}));
vi.mock('../../src-main/services/app-services.js', () => ({ createAppServices: fake.createAppServices }));

function mainWindow(): InstanceType<typeof fake.FakeWindow> {
  const window = fake.FakeWindow.instances[0];
  if (!window) throw new Error('no window yet');
  return window;
}

beforeAll(async () => {
  fake.storeData.set('windowState', { bounds: { x: 50, y: 60, width: 1200, height: 800 }, maximized: false });
  await import('../../src-main/app/main.js');
  await vi.waitFor(() => expect(fake.FakeWindow.instances).toHaveLength(1));
});

describe('the Electron main process', () => {
  it('registers the photo scheme as privileged and enables the sandbox before the app is ready', () => {
    expect(fake.order.slice(0, 3)).toEqual(['registerSchemesAsPrivileged', 'enableSandbox', 'ready']);
    expect(fake.protocol.registerSchemesAsPrivileged).toHaveBeenCalledWith([
      { scheme: 'mien-photo', privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
    ]);
  });

  it('creates the services on the app folders, the settings store and native dialogs', () => {
    const options = fake.createAppServices.mock.calls[0]?.[0];
    expect(options).toMatchObject({ dataDir: '/home/ana/.config/userData', resourcesDir: '/opt/mien/resources' });
    expect(options?.store).toMatchObject({ options: { name: 'settings' } });
    expect(Object.keys(options?.dialogs as object).sort()).toEqual([
      'chooseFolder',
      'chooseModelExportFile',
      'chooseModelFile',
      'showInFolder',
    ]);
  });

  it('opens one window with the secure preferences, its saved bounds and the built renderer', () => {
    const window = mainWindow();
    expect(window.options).toMatchObject({ x: 50, y: 60, width: 1200, height: 800 });
    expect(window.options.webPreferences).toEqual({ ...secureWebPreferences, preload: '/opt/mien/out/preload.cjs' });
    expect(window.loadFile).toHaveBeenCalledWith(path.join('/opt/mien', 'out', 'renderer', 'index.html'));
  });

  it('sets a menu without page zoom, whose keys zoom the photo in the editor', () => {
    const menu = fake.menu.setApplicationMenu.mock.calls[0]?.[0] as { template: unknown } | undefined;
    const roles = JSON.stringify(menu?.template);
    expect(roles).toContain('editMenu');
    expect(roles).not.toMatch(/zoomIn|zoomOut|resetZoom|viewMenu/);
  });

  it('locks down the default session', () => {
    expect(fake.session.setPermissionRequestHandler).toHaveBeenCalled();
    expect(fake.session.webRequest.onHeadersReceived).toHaveBeenCalled();
  });

  it('handles every request channel, for the main window page only', async () => {
    expect([...fake.ipcHandlers.keys()].sort()).toEqual([...requestChannels].sort());
    const handle = fake.ipcHandlers.get('library:recent');
    await expect(handle?.({ senderFrame: fake.mainFrame }, {})).resolves.toEqual({ ok: true, value: 'dispatched' });
    expect(fake.services.dispatch).toHaveBeenCalledWith('library:recent', {});

    fake.services.dispatch.mockClear();
    const subframe = { ...fake.mainFrame, parent: fake.mainFrame };
    const elsewhere = { ...fake.mainFrame, url: 'file:///tmp/evil.html' };
    for (const senderFrame of [subframe, elsewhere, null]) {
      await expect(handle?.({ senderFrame }, {})).resolves.toMatchObject({ ok: false, error: { code: 'forbidden' } });
    }
    expect(fake.services.dispatch).not.toHaveBeenCalled();
  });

  it('serves mien-photo requests from servePhoto', async () => {
    const handler = fake.protocolHandlers.get('mien-photo');
    const response = await handler?.(new Request('http://x/'));
    expect(response?.status).toBe(400);
    expect(fake.services.servePhoto).not.toHaveBeenCalled();
    const photo = await handler?.({ method: 'GET', url: 'mien-photo://photo/?path=%2Fp%2Fa.jpg&size=64' } as Request);
    expect(photo?.status).toBe(200);
    expect(fake.services.servePhoto).toHaveBeenCalledWith('/p/a.jpg', 64);
  });

  it('sends service events to the window', () => {
    const options = fake.createAppServices.mock.calls[0]?.[0] as { emit(event: string, body: unknown): void };
    options.emit('job:progress', { jobId: 'j' });
    expect(mainWindow().webContents.send).toHaveBeenCalledWith('job:progress', { jobId: 'j' });
  });

  it('saves the window state when the window closes', () => {
    mainWindow().emit('close');
    expect(fake.storeData.get('windowState')).toEqual({
      bounds: { x: 10, y: 20, width: 1000, height: 700 },
      maximized: true,
    });
  });

  it('holds the quit until the services have closed', async () => {
    const event = { preventDefault: vi.fn() };
    fake.app.emit('will-quit', event);
    expect(event.preventDefault).toHaveBeenCalled();
    expect(fake.services.close).toHaveBeenCalledTimes(1);
    await vi.waitFor(() => expect(fake.app.quit).toHaveBeenCalled());
    const second = { preventDefault: vi.fn() };
    fake.app.emit('will-quit', second);
    expect(second.preventDefault).not.toHaveBeenCalled();
    expect(fake.services.close).toHaveBeenCalledTimes(1);
  });
});

describe('a second instance', () => {
  it('quits without starting anything', async () => {
    vi.resetModules();
    fake.app.requestSingleInstanceLock.mockReturnValueOnce(false);
    fake.createAppServices.mockClear();
    fake.app.quit.mockClear();
    await import('../../src-main/app/main.js');
    expect(fake.app.quit).toHaveBeenCalled();
    expect(fake.createAppServices).not.toHaveBeenCalled();
  });
});
