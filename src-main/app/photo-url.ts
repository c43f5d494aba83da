/*
 * The `mien-photo:` URL through which the renderer shows photos and thumbnails:
 * `mien-photo://photo/?path=<encoded absolute path>&size=<longest side>`.
 * This module has no imports: the sandboxed preload bundles it.
 */

export const photoScheme = 'mien-photo';
export const photoHost = 'photo';

/** Thumbnail sizes the shell passes on; anything else is refused rather than clamped, so a bug shows. */
export const minThumbnailSize = 16;
export const maxThumbnailSize = 4096;

export function isThumbnailSize(size: unknown): size is number {
  return Number.isInteger(size) && (size as number) >= minThumbnailSize && (size as number) <= maxThumbnailSize;
}

/** Builds the URL; `encodeURIComponent` turns slashes, spaces, `?`, `#` and `%` into escapes, so the path stays one value. */
export function buildPhotoUrl(photo: string, thumbnailSize?: number): string {
  if (typeof photo !== 'string' || photo.length === 0) throw new TypeError('photoUrl needs a photo path');
  let url = `${photoScheme}://${photoHost}/?path=${encodeURIComponent(photo)}`;
  if (thumbnailSize !== undefined) {
    if (!isThumbnailSize(thumbnailSize)) {
      throw new RangeError(`thumbnail size must be an integer from ${minThumbnailSize} to ${maxThumbnailSize}`);
    }
    url += `&size=${thumbnailSize}`;
  }
  return url;
}
