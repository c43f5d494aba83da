import type { Envelope, EventChannel, RequestChannel } from './ipc-contract.js';

/*
 * The loopback WebSocket host speaks the IPC contract as MessagePack frames
 * (binary images stay binary). The browser connects to `/ws?token=...` with the
 * token the host printed in its URL (`http://127.0.0.1:PORT/#token=...`), and
 * loads photos from `/photo?path=...&size=...&token=...`.
 */

export type ClientFrame = { type: 'invoke'; id: number; channel: RequestChannel; payload: unknown };

export type HostFrame =
  { type: 'reply'; id: number; envelope: Envelope<unknown> } | { type: 'event'; event: EventChannel; body: unknown };

/** Query parameters of a photo URL: `path` (absolute) and, for a thumbnail, `size` (longest side in pixels). */
export const photoRoute = '/photo';
export const socketRoute = '/ws';
