import type { PhotoResponse } from '../services/app-services.js';
import { parsePhotoUrl } from './photo-request.js';

export type ServePhoto = (path: string, thumbnailSize?: number) => Promise<PhotoResponse>;

/**
 * Answers one `mien-photo:` request from the services' `servePhoto` and
 * nothing else: no file is read here, so the folder check there is the only
 * way to a file.
 */
export async function answerPhotoRequest(
  request: { method: string; url: string },
  servePhoto: ServePhoto,
): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return plain(405, 'method not allowed');
  const photo = parsePhotoUrl(request.url);
  if (!photo) return plain(400, 'not a photo URL');
  let answer: PhotoResponse;
  try {
    answer = await servePhoto(photo.path, photo.thumbnailSize);
  } catch {
    // servePhoto reports problems as statuses; a throw is a bug, and its message may name files.
    return plain(500, 'photo could not be served');
  }
  const body = typeof answer.body === 'string' ? answer.body : bytesOf(answer.body);
  return new Response(request.method === 'HEAD' ? null : body, {
    status: answer.status,
    headers: { ...commonHeaders, 'content-type': answer.mime },
  });
}

/** A view on the Buffer's own memory: photos are large, copying them for the response is waste. */
function bytesOf(buffer: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.byteLength);
}

const commonHeaders = {
  'x-content-type-options': 'nosniff',
  // Photos change when an export overwrites them; the renderer asks again rather than trusting a cache.
  'cache-control': 'no-cache',
};

function plain(status: number, message: string): Response {
  return new Response(message, { status, headers: { ...commonHeaders, 'content-type': 'text/plain; charset=utf-8' } });
}
