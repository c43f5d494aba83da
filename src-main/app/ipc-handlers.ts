import type { IpcMain, IpcMainInvokeEvent } from 'electron';
import type { Envelope, RequestChannel } from '../contract/ipc-contract.js';
import type { AppServices } from '../services/app-services.js';

export const forbiddenEnvelope: Envelope<never> = {
  ok: false,
  error: { code: 'forbidden', message: 'this page may not call the app' },
};

/**
 * One handler per request channel. The sender is checked before the services
 * see the payload; the services validate the payload and never throw, so a
 * reply is always an envelope.
 */
export function registerRequestHandlers(
  ipcMain: Pick<IpcMain, 'handle'>,
  channels: readonly RequestChannel[],
  dispatch: AppServices['dispatch'],
  isTrusted: (event: IpcMainInvokeEvent) => boolean,
): void {
  for (const channel of channels) {
    ipcMain.handle(channel, (event, payload: unknown) =>
      isTrusted(event) ? dispatch(channel, payload) : Promise.resolve(forbiddenEnvelope),
    );
  }
}
