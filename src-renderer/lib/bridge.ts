import type { MienBridge } from '../../src-main/contract/ipc-contract.js';
import { createSocketBridge, socketUrlFor, tokenFromHash } from './socket-bridge.js';

declare global {
  interface Window {
    /** exposed by the Electron preload; absent in a plain browser */
    mien?: MienBridge;
  }
}

export const missingTokenMessage =
  'This page needs the access token of the Mien host. Open the full URL the host printed (it ends with #token=…).';

/** A bridge whose every call fails with one readable message, so the UI still shows why nothing works. */
function failingBridge(message: string): MienBridge {
  return {
    invoke: () => Promise.resolve({ ok: false, error: { message, code: 'no-bridge' } }),
    on: () => () => {},
    photoUrl: () => '',
  };
}

/** Electron's preload bridge when there is one, else a WebSocket bridge to the host that served the page. */
export function resolveBridge(win: Window = window): MienBridge {
  if (win.mien) return win.mien;
  const token = tokenFromHash(win.location.hash);
  if (!token) return failingBridge(missingTokenMessage);
  return createSocketBridge({ socketUrl: socketUrlFor(win.location, token), token });
}
