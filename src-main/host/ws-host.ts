import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ClientFrame, HostFrame } from '../contract/ws-protocol.js';
import { photoRoute, socketRoute } from '../contract/ws-protocol.js';
import { createAppServices, type AppServices, type AppServicesOptions } from '../services/app-services.js';

export interface HostOptions extends Omit<AppServicesOptions, 'emit' | 'dialogs'> {
  /** the built renderer (index.html and its assets) */
  rendererDir: string;
  /** 0 picks a free port */
  port?: number;
}

export interface RunningHost {
  /** open this in a browser: it carries the token */
  url: string;
  port: number;
  token: string;
  services: AppServices;
  close(): Promise<void>;
}

const mimeTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

/**
 * Serves the IPC contract to a browser: the built renderer over HTTP, the
 * contract over a WebSocket, photos over `/photo`, all with the real services
 * in plain Node. It listens on 127.0.0.1 only; the socket and photos need the
 * random token of the printed URL, and the socket refuses other origins, so
 * neither another user of the machine nor a web page can reach the photos.
 */
export async function startHost(options: HostOptions): Promise<RunningHost> {
  const token = randomBytes(24).toString('hex');
  const sockets = new Set<WebSocket>();
  const services = await createAppServices({
    ...options,
    emit: (event, body) => broadcast(sockets, { type: 'event', event, body }),
  });
  const server = http.createServer((request, response) => {
    void route(request, response).catch((error: Error) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(error.message);
    });
  });
  const route = async (request: http.IncomingMessage, response: http.ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === photoRoute) return servePhoto(url, response);
    // Browsers ask for it unprompted; the page declares its own icon.
    if (url.pathname === '/favicon.ico') return void response.writeHead(204).end();
    return serveStatic(options.rendererDir, url.pathname, response, port);
  };
  const servePhoto = async (url: URL, response: http.ServerResponse) => {
    if (!tokenMatches(url.searchParams.get('token'), token)) return deny(response, 401, 'bad token');
    const file = url.searchParams.get('path');
    if (!file) return deny(response, 400, 'no path');
    const size = url.searchParams.has('size') ? Number(url.searchParams.get('size')) : undefined;
    if (size !== undefined && !Number.isFinite(size)) return deny(response, 400, 'bad size');
    const photo = await services.servePhoto(file, size);
    response.writeHead(photo.status, { 'content-type': photo.mime, 'cache-control': 'private, max-age=60' });
    response.end(photo.body);
  };

  const socketServer = new WebSocketServer({ noServer: true, maxPayload: 16 * 2 ** 20 });
  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const origin = request.headers.origin;
    const sameOrigin =
      origin === undefined || origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`;
    if (url.pathname !== socketRoute || !sameOrigin || !tokenMatches(url.searchParams.get('token'), token)) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    socketServer.handleUpgrade(request, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('message', (data, isBinary) => void answer(ws, data as Buffer, isBinary));
    });
  });
  const answer = async (ws: WebSocket, data: Buffer, isBinary: boolean) => {
    let frame: ClientFrame;
    try {
      if (!isBinary) throw new Error('frames are MessagePack');
      frame = decode(data) as ClientFrame;
      if (frame?.type !== 'invoke' || typeof frame.id !== 'number' || typeof frame.channel !== 'string') {
        throw new Error('not an invoke frame');
      }
    } catch (error) {
      ws.close(1003, (error as Error).message.slice(0, 100));
      return;
    }
    const envelope = await services.dispatch(frame.channel, frame.payload);
    send(ws, { type: 'reply', id: frame.id, envelope });
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/#token=${token}`,
    port,
    token,
    services,
    close: async () => {
      for (const ws of sockets) ws.terminate();
      socketServer.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.close();
    },
  };
}

function send(ws: WebSocket, frame: HostFrame): void {
  if (ws.readyState === ws.OPEN) ws.send(encode(frame));
}

function broadcast(sockets: Set<WebSocket>, frame: HostFrame): void {
  for (const ws of sockets) send(ws, frame);
}

function tokenMatches(given: string | null, token: string): boolean {
  if (!given || given.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(token));
}

function deny(response: http.ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'text/plain' });
  response.end(message);
}

/** The renderer's files, and nothing outside its folder. */
async function serveStatic(root: string, pathname: string, response: http.ServerResponse, port: number) {
  const relative = decodeURIComponent(pathname === '/' ? '/index.html' : pathname);
  const file = path.resolve(root, `.${relative}`);
  if (!file.startsWith(path.resolve(root) + path.sep)) return deny(response, 403, 'forbidden');
  const body = await readFile(file).catch(() => undefined);
  if (!body) return deny(response, 404, 'not found');
  response.writeHead(200, {
    'content-type': mimeTypes[path.extname(file)] ?? 'application/octet-stream',
    'content-security-policy': contentSecurityPolicy(port),
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-cache',
  });
  response.end(body);
}

/** The desktop window's policy, with the host's own socket allowed. */
export function contentSecurityPolicy(port: number): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    `connect-src 'self' ws://127.0.0.1:${port}`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
