import path from 'node:path';
import { isThumbnailSize, photoHost, photoScheme } from './photo-url.js';

export interface PhotoRequest {
  path: string;
  thumbnailSize?: number;
}

type PathApi = Pick<typeof path, 'isAbsolute'>;

/**
 * Reads a `mien-photo:` URL, or returns null for anything that is not exactly
 * what `buildPhotoUrl` makes. The services still check that the photo lies in
 * a folder the user opened; refusing odd URLs here keeps that check simple.
 */
export function parsePhotoUrl(raw: string, pathApi: PathApi = path): PhotoRequest | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== `${photoScheme}:` || url.hostname !== photoHost) return null;
  if (url.username || url.password || url.port || url.hash) return null;
  // Only the bare root: `/%2F..` or `/etc/passwd` in the path part is refused, not decoded.
  if (url.pathname !== '/' && url.pathname !== '') return null;

  const keys = [...url.searchParams.keys()];
  if (keys.some((key) => key !== 'path' && key !== 'size')) return null;
  const paths = url.searchParams.getAll('path');
  const sizes = url.searchParams.getAll('size');
  if (paths.length !== 1 || sizes.length > 1) return null;

  const photo = paths[0] as string;
  if (!isPlainAbsolutePath(photo, pathApi)) return null;
  if (sizes.length === 0) return { path: photo };
  const size = sizes[0] as string;
  if (!/^[1-9][0-9]*$/.test(size)) return null;
  const thumbnailSize = Number(size);
  return isThumbnailSize(thumbnailSize) ? { path: photo, thumbnailSize } : null;
}

/** Absolute, no NUL, and no `.` or `..` segment under either separator. */
export function isPlainAbsolutePath(candidate: string, pathApi: PathApi = path): boolean {
  if (candidate.length === 0 || candidate.length > 4096 || candidate.includes('\0')) return false;
  if (!pathApi.isAbsolute(candidate)) return false;
  return candidate.split(/[\\/]/).every((segment) => segment !== '.' && segment !== '..');
}
