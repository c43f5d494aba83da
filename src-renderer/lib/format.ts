/** "1.2 MB" */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** "1 h 02 min", "3 min 05 s", "12 s"; unknown (0 or not finite) as "—" */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return '—';
  const s = Math.round(seconds);
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (hours > 0) return `${hours} h ${String(minutes).padStart(2, '0')} min`;
  if (minutes > 0) return `${minutes} min ${String(rest).padStart(2, '0')} s`;
  return `${rest} s`;
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '—';
  return perSecond >= 1 ? `${perSecond.toFixed(1)} photos/s` : `${(60 * perSecond).toFixed(1)} photos/min`;
}

// One formatter for all: building one per call (toLocaleString) is slow for thousands of tiles.
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function formatDate(ms: number): string {
  return dateFormat.format(ms);
}

/** The last part of a path, for labels ("/photos/2024" → "2024"). */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]+/).filter(Boolean);
  return parts.at(-1) ?? path;
}

/** 0.85 → "0.85", keeping the slider's two decimals */
export function formatIntensity(value: number): string {
  return value.toFixed(2);
}

/**
 * The window's title, as desktop apps name what is open: "photo.jpg — Mien"
 * in the editor (with a bullet while edits are not yet saved), the folder's
 * name elsewhere once one is open.
 */
export function windowTitle(open: {
  view: string;
  photo: string | null;
  folder: string | null;
  unsaved: boolean;
}): string {
  if (open.view === 'editor' && open.photo) return `${open.unsaved ? '• ' : ''}${baseName(open.photo)} — Mien`;
  return open.folder ? `${baseName(open.folder)} — Mien` : 'Mien';
}
