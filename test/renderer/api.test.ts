import { describe, expect, test } from 'vitest';
import type { MienBridge } from '../../src-main/contract/ipc-contract.js';
import { ApiError, MienApi, messageOf } from '../../src-renderer/lib/api.js';

function bridgeAnswering(answer: (channel: string, payload: unknown) => unknown): {
  bridge: MienBridge;
  sent: { channel: string; payload: unknown }[];
} {
  const sent: { channel: string; payload: unknown }[] = [];
  const bridge = {
    invoke: async (channel: string, payload: unknown) => {
      sent.push({ channel, payload });
      return answer(channel, payload);
    },
    on: () => () => {},
    photoUrl: (photo: string, size?: number) => `mien-photo://${photo}?${size ?? ''}`,
  } as unknown as MienBridge;
  return { bridge, sent };
}

describe('MienApi', () => {
  test('unwraps successful envelopes into plain values', async () => {
    const { bridge, sent } = bridgeAnswering((channel) =>
      channel === 'library:recent'
        ? { ok: true, value: { folders: ['/a', '/b'] } }
        : { ok: true, value: { folder: '/picked' } },
    );
    const api = new MienApi(bridge);
    await expect(api.recentFolders()).resolves.toEqual(['/a', '/b']);
    await expect(api.chooseFolder('output')).resolves.toBe('/picked');
    expect(sent).toEqual([
      { channel: 'library:recent', payload: {} },
      { channel: 'library:chooseFolder', payload: { purpose: 'output' } },
    ]);
  });

  test('an error envelope becomes an ApiError with the readable message, code and channel', async () => {
    const { bridge } = bridgeAnswering(() => ({
      ok: false,
      error: { message: 'The folder /nope does not exist', code: 'not-found' },
    }));
    const api = new MienApi(bridge);
    const error = await api.openFolder('/nope', false).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      message: 'The folder /nope does not exist',
      code: 'not-found',
      channel: 'library:open',
    });
    expect(messageOf(error)).toBe('The folder /nope does not exist');
  });

  test('a bridge that throws still gives an ApiError', async () => {
    const { bridge } = bridgeAnswering(() => {
      throw new Error('IPC channel closed');
    });
    await expect(new MienApi(bridge).status()).rejects.toMatchObject({
      name: 'ApiError',
      message: 'IPC channel closed',
      code: 'bridge',
    });
  });

  test('optional fields are left out rather than sent as undefined', async () => {
    const { bridge, sent } = bridgeAnswering((channel) =>
      channel === 'models:import' ? { ok: true, value: { model: null } } : { ok: true, value: { file: null } },
    );
    const api = new MienApi(bridge);
    await api.importModel();
    await api.exportModel('m1');
    await api.exportModel('m1', '/tmp/m.mien');
    expect(sent.map((s) => s.payload)).toEqual([{}, { id: 'm1' }, { id: 'm1', file: '/tmp/m.mien' }]);
  });

  test('deleting a model sends the confirmation the user gave', async () => {
    const { bridge, sent } = bridgeAnswering(() => ({ ok: true, value: { ok: true } }));
    await new MienApi(bridge).deleteModel({ id: 'm2', confirmed: true });
    expect(sent).toEqual([{ channel: 'models:delete', payload: { id: 'm2', confirmed: true } }]);
  });

  test('photo URLs and dropped paths come from the bridge', () => {
    const { bridge } = bridgeAnswering(() => null);
    const api = new MienApi(bridge);
    expect(api.photoUrl('/p/a.jpg', 256)).toBe('mien-photo:///p/a.jpg?256');
    expect(api.pathOfDroppedFile({} as File)).toBeNull();
  });
});
