import type { Face, MienBridge, PhotoEntry } from '../../src-main/contract/ipc-contract.js';
import { MienApi } from '../../src-renderer/lib/api.js';

/** `count` photos named photo-00001.jpg..., with sizes and dates in a known, different order. */
export function photoEntries(count: number): PhotoEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    path: `/photos/photo-${String(i + 1).padStart(5, '0')}.jpg`,
    name: `photo-${String(i + 1).padStart(5, '0')}.jpg`,
    folder: '',
    bytes: ((i * 7919) % count) + 1000,
    modifiedMs: 1_700_000_000_000 + ((i * 104_729) % count) * 1000,
    editedFaces: i % 10 === 0 ? 1 : 0,
  }));
}

export function entry(name: string, fields: Partial<PhotoEntry> = {}): PhotoEntry {
  return {
    path: `/photos/${fields.folder ? `${fields.folder}/` : ''}${name}`,
    name,
    folder: '',
    bytes: 1000,
    modifiedMs: 0,
    editedFaces: 0,
    ...fields,
  };
}

export function face(id: string, smile: number, x = 100): Face {
  return {
    id,
    box: { x, y: 100, width: 200, height: 240 },
    frame: { centerX: x + 100, centerY: 210, size: 260, angle: 0.05 },
    smile,
    expression: smile >= 0.5 ? 'happy' : 'neutral',
    score: 0.99,
  };
}

export type Handler = (payload: Record<string, unknown>) => unknown;

/** A main process stand-in: answers per channel and records every call. */
export function fakeBackend(handlers: Record<string, Handler>) {
  const calls: { channel: string; payload: Record<string, unknown> }[] = [];
  const bridge = {
    invoke: async (channel: string, payload: Record<string, unknown>) => {
      calls.push({ channel, payload });
      const handler = handlers[channel];
      if (!handler) return { ok: false, error: { message: `no handler for ${channel}`, code: 'test' } };
      try {
        return { ok: true, value: await handler(payload) };
      } catch (error) {
        return { ok: false, error: { message: (error as Error).message, code: 'failed' } };
      }
    },
    on: () => () => {},
    photoUrl: () => '',
  } as unknown as MienBridge;
  return { api: new MienApi(bridge), calls };
}
