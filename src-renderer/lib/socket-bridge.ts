import { decode, encode } from '@msgpack/msgpack';
import type {
  Envelope,
  EventChannel,
  EventOf,
  MienBridge,
  ReplyOf,
  RequestChannel,
  RequestOf,
} from '../../src-main/contract/ipc-contract.js';
import type { ClientFrame, HostFrame } from '../../src-main/contract/ws-protocol.js';

/** The part of a WebSocket the bridge uses, so tests can hand it a fake. */
export interface SocketLike {
  binaryType: BinaryType;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(): void;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
}

export interface SocketBridgeOptions {
  /** ws://host/ws?token=... */
  socketUrl: string;
  /** the access token the host printed, also needed on photo URLs */
  token: string;
  openSocket?: (url: string) => SocketLike;
  /** first wait before reconnecting after the connection drops; doubles up to 10 s */
  reconnectDelayMs?: number;
}

const OPEN = 1;

export const disconnectedError = {
  message: 'Lost the connection to Mien. Reconnecting…',
  code: 'disconnected',
} as const;

/**
 * A MienBridge over the loopback host's WebSocket, for a plain browser page
 * (tests, demos) where no preload exposes `window.mien`. Requests wait for the
 * socket to open; a dropped connection fails the requests in flight with a
 * readable envelope (never a hanging promise) and is reopened.
 */
export function createSocketBridge(options: SocketBridgeOptions): MienBridge & { close(): void } {
  const openSocket = options.openSocket ?? ((url: string) => new WebSocket(url) as SocketLike);
  const firstDelay = options.reconnectDelayMs ?? 500;
  const pending = new Map<number, (envelope: Envelope<unknown>) => void>();
  const listeners = new Map<EventChannel, Set<(body: unknown) => void>>();
  let queued: Uint8Array[] = [];
  let nextId = 1;
  let socket: SocketLike | null = null;
  let reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  let delay = firstDelay;
  let closed = false;

  function connect(): SocketLike {
    if (socket) return socket;
    const opened = openSocket(options.socketUrl);
    opened.binaryType = 'arraybuffer';
    opened.onopen = () => {
      delay = firstDelay;
      const frames = queued;
      queued = [];
      for (const frame of frames) opened.send(frame);
    };
    opened.onmessage = (event) => receive(event.data);
    opened.onclose = () => dropped(opened);
    // An error is always followed by close, which does the cleaning up.
    opened.onerror = () => {};
    socket = opened;
    return opened;
  }

  function dropped(which: SocketLike): void {
    if (socket !== which) return;
    socket = null;
    queued = [];
    const waiting = [...pending.values()];
    pending.clear();
    for (const resolve of waiting) resolve({ ok: false, error: { ...disconnectedError } });
    // Event listeners need a live socket to hear anything; requests reconnect on their own.
    if (!closed && listeners.size > 0 && reconnectTimer === null) {
      reconnectTimer = setTimeout(() => {
        reconnectTimer = null;
        if (!closed) connect();
      }, delay);
      delay = Math.min(delay * 2, 10_000);
    }
  }

  function receive(data: unknown): void {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : null;
    if (!bytes) return;
    let frame: HostFrame;
    try {
      frame = decode(bytes) as HostFrame;
    } catch {
      return;
    }
    if (frame.type === 'reply') {
      const resolve = pending.get(frame.id);
      pending.delete(frame.id);
      resolve?.(frame.envelope);
    } else if (frame.type === 'event') {
      for (const listener of listeners.get(frame.event) ?? []) listener(frame.body);
    }
  }

  function send(frame: ClientFrame): void {
    // Optional fields left undefined must be absent, not nil: the host's schemas reject null.
    const bytes = encode(frame, { ignoreUndefined: true });
    const target = connect();
    if (target.readyState === OPEN) target.send(bytes);
    else queued.push(bytes);
  }

  return {
    invoke<C extends RequestChannel>(channel: C, payload: RequestOf<C>): Promise<Envelope<ReplyOf<C>>> {
      if (closed) return Promise.resolve({ ok: false, error: { ...disconnectedError } });
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve as (envelope: Envelope<unknown>) => void);
        send({ type: 'invoke', id, channel, payload });
      });
    },
    on<E extends EventChannel>(event: E, listener: (body: EventOf<E>) => void): () => void {
      const set = listeners.get(event) ?? new Set();
      const untyped = listener as (body: unknown) => void;
      set.add(untyped);
      listeners.set(event, set);
      if (!closed) connect();
      return () => {
        set.delete(untyped);
        if (set.size === 0) listeners.delete(event);
      };
    },
    photoUrl(photo: string, thumbnailSize?: number): string {
      const size = thumbnailSize === undefined ? '' : `&size=${Math.round(thumbnailSize)}`;
      return `/photo?path=${encodeURIComponent(photo)}${size}&token=${encodeURIComponent(options.token)}`;
    },
    close(): void {
      closed = true;
      if (reconnectTimer !== null) clearTimeout(reconnectTimer);
      socket?.close();
    },
  };
}

/** The access token from the page URL's fragment (`#token=...`), kept out of server logs that way. */
export function tokenFromHash(hash: string): string | null {
  const token = new URLSearchParams(hash.replace(/^#/, '')).get('token');
  return token ? token : null;
}

/** The WebSocket URL of the host that served this page. */
export function socketUrlFor(location: Pick<Location, 'protocol' | 'host'>, token: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws?token=${encodeURIComponent(token)}`;
}
