import type { PhotoEntry } from '../../src-main/contract/ipc-contract.js';

export type SortKey = 'name' | 'date' | 'size';

export interface PhotoOrder {
  sortKey: SortKey;
  descending: boolean;
  /** matched against the name and the subfolder, case-insensitively */
  text: string;
  editedOnly: boolean;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** The relative path shown and matched: subfolder plus name. */
export function displayPath(photo: PhotoEntry): string {
  return photo.folder ? `${photo.folder}/${photo.name}` : photo.name;
}

function compare(key: SortKey, a: PhotoEntry, b: PhotoEntry): number {
  if (key === 'date') return a.modifiedMs - b.modifiedMs;
  if (key === 'size') return a.bytes - b.bytes;
  return collator.compare(displayPath(a), displayPath(b));
}

/** The photos the gallery shows, filtered then sorted (ties fall back to the name, so the order is stable). */
export function arrangePhotos(photos: readonly PhotoEntry[], order: PhotoOrder): PhotoEntry[] {
  const needle = order.text.trim().toLocaleLowerCase();
  const kept = photos.filter(
    (photo) =>
      (!order.editedOnly || photo.editedFaces > 0) &&
      (needle === '' || displayPath(photo).toLocaleLowerCase().includes(needle)),
  );
  const sign = order.descending ? -1 : 1;
  return kept.sort((a, b) => sign * (compare(order.sortKey, a, b) || compare('name', a, b)));
}
