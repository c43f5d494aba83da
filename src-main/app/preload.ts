import { contextBridge, ipcRenderer, webUtils } from 'electron';
import type { IpcRendererEvent } from 'electron';
import type { Envelope, MienBridge } from '../contract/ipc-contract.js';
import { isEventChannel, isRequestChannel } from './channels.js';
import { buildPhotoUrl } from './photo-url.js';

/*
 * The renderer's only way to the main process. It is bundled into one
 * CommonJS file (sandboxed preloads cannot load modules), so it imports plain
 * values only. ipcRenderer itself never crosses the bridge, nor do the IPC
 * event objects (they carry `sender`, which is ipcRenderer).
 */

function refused(code: string, message: string): Envelope<never> {
  return { ok: false, error: { code, message } };
}

const bridge: MienBridge = {
  async invoke(channel, payload) {
    if (!isRequestChannel(channel)) return refused('unknown-channel', `no such request channel: ${String(channel)}`);
    try {
      return await ipcRenderer.invoke(channel, payload);
    } catch (error) {
      // e.g. a payload that cannot be cloned; the renderer expects an envelope either way.
      return refused('ipc-failed', error instanceof Error ? error.message : String(error));
    }
  },
  on(event, listener) {
    if (!isEventChannel(event)) throw new Error(`no such event channel: ${String(event)}`);
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    const forward = (_event: IpcRendererEvent, body: unknown): void => listener(body as Parameters<typeof listener>[0]);
    ipcRenderer.on(event, forward);
    return () => {
      ipcRenderer.removeListener(event, forward);
    };
  },
  photoUrl: (photo, thumbnailSize) => buildPhotoUrl(photo, thumbnailSize),
  pathOfDroppedFile: (file) => webUtils.getPathForFile(file),
};

contextBridge.exposeInMainWorld('mien', bridge);
