import { decode, encode } from '@msgpack/msgpack';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  createSocketBridge,
  disconnectedError,
  socketUrlFor,
  tokenFromHash,
  type SocketLike,
} from '../../src-renderer/lib/socket-bridge.js';

/** A WebSocket stand-in: records what is sent, and lets the test open, answer and drop it. */
class FakeSocket implements SocketLike {
  binaryType: BinaryType = 'blob';
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  closed = false;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;

  constructor(readonly url: string) {}

  send(data: Uint8Array): void {
    expect(data).toBeInstanceOf(Uint8Array);
    this.sent.push(decode(data) as Record<string, unknown>);
  }

  close(): void {
    this.closed = true;
    this.drop();
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  /** A frame from the host, as the browser delivers it with binaryType 'arraybuffer'. */
  receive(frame: unknown): void {
    const bytes = encode(frame);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    this.onmessage?.({ data: buffer } as MessageEvent);
  }

  drop(): void {
    this.readyState = 3;
    this.onclose?.({} as CloseEvent);
  }
}

function setup(reconnectDelayMs = 100) {
  const sockets: FakeSocket[] = [];
  const bridge = createSocketBridge({
    socketUrl: 'ws://127.0.0.1:4321/ws?token=secret',
    token: 'secret',
    reconnectDelayMs,
    openSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
  });
  return { bridge, sockets };
}

describe('WebSocket bridge', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  test('queues requests until the socket opens, then sends MessagePack invoke frames with increasing ids', async () => {
    const { bridge, sockets } = setup();
    const first = bridge.invoke('library:open', { folder: '/photos', recursive: true });
    const second = bridge.invoke('app:status', {});
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.url).toBe('ws://127.0.0.1:4321/ws?token=secret');
    expect(sockets[0]!.binaryType).toBe('arraybuffer');
    expect(sockets[0]!.sent).toEqual([]);

    sockets[0]!.open();
    expect(sockets[0]!.sent).toEqual([
      { type: 'invoke', id: 1, channel: 'library:open', payload: { folder: '/photos', recursive: true } },
      { type: 'invoke', id: 2, channel: 'app:status', payload: {} },
    ]);

    // Replies may come in any order; each settles its own request.
    sockets[0]!.receive({ type: 'reply', id: 2, envelope: { ok: true, value: { version: '1' } } });
    sockets[0]!.receive({
      type: 'reply',
      id: 1,
      envelope: { ok: false, error: { message: 'No such folder: /photos', code: 'not-found' } },
    });
    await expect(second).resolves.toEqual({ ok: true, value: { version: '1' } });
    await expect(first).resolves.toEqual({
      ok: false,
      error: { message: 'No such folder: /photos', code: 'not-found' },
    });
  });

  test('leaves undefined optional fields out of the frame instead of sending nil', () => {
    const { bridge, sockets } = setup();
    void bridge.invoke('models:export', { id: 'm1', file: undefined });
    sockets[0]!.open();
    const payload = sockets[0]!.sent[0]!.payload as Record<string, unknown>;
    expect(payload).toEqual({ id: 'm1' });
    expect('file' in payload).toBe(false);
  });

  test('binary fields of replies arrive as Uint8Array', async () => {
    const { bridge, sockets } = setup();
    const reply = bridge.invoke('photo:preview', { photo: '/p.jpg', faces: [] });
    sockets[0]!.open();
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    sockets[0]!.receive({
      type: 'reply',
      id: 1,
      envelope: { ok: true, value: { image: jpeg, mime: 'image/jpeg', width: 10, height: 8 } },
    });
    const envelope = await reply;
    if (!envelope.ok) throw new Error('expected a value');
    expect(envelope.value.image).toBeInstanceOf(Uint8Array);
    expect([...envelope.value.image]).toEqual([...jpeg]);
    expect(envelope.value.mime).toBe('image/jpeg');
  });

  test('dispatches events to their listeners until unsubscribed', () => {
    const { bridge, sockets } = setup();
    const progress: unknown[] = [];
    const ends: unknown[] = [];
    const stop = bridge.on('job:progress', (body) => progress.push(body));
    bridge.on('job:end', (body) => ends.push(body));
    // Subscribing opens the connection, so events flow before any request is made.
    expect(sockets).toHaveLength(1);
    sockets[0]!.open();

    const body = { jobId: 'j1', kind: 'batch', done: 1, total: 4, message: 'a.jpg', ratePerSecond: 2, etaSeconds: 1.5 };
    sockets[0]!.receive({ type: 'event', event: 'job:progress', body });
    expect(progress).toEqual([body]);
    expect(ends).toEqual([]);

    stop();
    sockets[0]!.receive({ type: 'event', event: 'job:progress', body: { ...body, done: 2 } });
    expect(progress).toHaveLength(1);
  });

  test('ignores frames it cannot decode', () => {
    const { bridge, sockets } = setup();
    const seen: unknown[] = [];
    bridge.on('job:end', (body) => seen.push(body));
    sockets[0]!.open();
    sockets[0]!.onmessage?.({ data: new Uint8Array([0xc1]).buffer } as MessageEvent);
    sockets[0]!.onmessage?.({ data: 'text frame' } as MessageEvent);
    expect(seen).toEqual([]);
  });

  test('a dropped connection fails requests in flight with a readable message and reconnects for listeners', async () => {
    const { bridge, sockets } = setup(100);
    bridge.on('job:end', () => {});
    const pending = bridge.invoke('app:status', {});
    sockets[0]!.open();
    sockets[0]!.drop();
    await expect(pending).resolves.toEqual({ ok: false, error: disconnectedError });

    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(sockets).toHaveLength(2);
    // The next drop waits twice as long.
    sockets[1]!.drop();
    vi.advanceTimersByTime(100);
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(100);
    expect(sockets).toHaveLength(3);

    // A new request uses the new socket.
    const again = bridge.invoke('app:status', {});
    sockets[2]!.open();
    expect(sockets[2]!.sent).toEqual([{ type: 'invoke', id: 2, channel: 'app:status', payload: {} }]);
    sockets[2]!.receive({ type: 'reply', id: 2, envelope: { ok: true, value: {} } });
    await expect(again).resolves.toEqual({ ok: true, value: {} });
  });

  test('after close, requests fail at once and nothing reconnects', async () => {
    const { bridge, sockets } = setup(100);
    bridge.on('job:end', () => {});
    sockets[0]!.open();
    bridge.close();
    expect(sockets[0]!.closed).toBe(true);
    await expect(bridge.invoke('app:status', {})).resolves.toEqual({ ok: false, error: disconnectedError });
    vi.advanceTimersByTime(10_000);
    expect(sockets).toHaveLength(1);
  });

  test('photo URLs carry the encoded path, the thumbnail size and the token', () => {
    const { bridge } = setup();
    expect(bridge.photoUrl('/home/me/Ferien 2024/a&b.jpg', 256)).toBe(
      '/photo?path=%2Fhome%2Fme%2FFerien%202024%2Fa%26b.jpg&size=256&token=secret',
    );
    expect(bridge.photoUrl('C:\\Photos\\x.png')).toBe('/photo?path=C%3A%5CPhotos%5Cx.png&token=secret');
  });
});

describe('page URL', () => {
  test('the token comes from the fragment', () => {
    expect(tokenFromHash('#token=abc123')).toBe('abc123');
    expect(tokenFromHash('#view=x&token=t%2Bk')).toBe('t+k');
    expect(tokenFromHash('')).toBeNull();
    expect(tokenFromHash('#token=')).toBeNull();
  });

  test('the socket URL points at the host that served the page', () => {
    expect(socketUrlFor({ protocol: 'http:', host: '127.0.0.1:5000' }, 'a b')).toBe(
      'ws://127.0.0.1:5000/ws?token=a%20b',
    );
    expect(socketUrlFor({ protocol: 'https:', host: 'example.test' }, 't')).toBe('wss://example.test/ws?token=t');
  });
});
