/* eslint-disable svelte/prefer-svelte-reactivity -- the selection is an immutable Set replaced whole: one signal
   for 10,000 tiles, and cheap to compare; the path index is rebuilt inside a $derived. */
import type { PhotoEntry, UnreadableFiles } from '../../src-main/contract/ipc-contract.js';
import { arrangePhotos, type SortKey } from '../lib/photo-order.js';
import { columnsFor, scrollToReveal, virtualWindow, type GridMetrics } from '../lib/virtual-grid.js';

export const tileMinWidth = 168;
export const tileGap = 12;
/** caption line under each thumbnail */
export const captionHeight = 26;
export const overscanRows = 3;

export interface ClickModifiers {
  /** Shift: select the range from the anchor */
  range?: boolean;
  /** Ctrl/Cmd: add to or remove from the selection */
  toggle?: boolean;
}

export type KeyOutcome = 'open' | 'handled' | 'ignored';

/**
 * The opened folder's photos as the gallery shows them: order and filter,
 * selection (click, Ctrl-click, Shift ranges, Ctrl+A), keyboard focus and the
 * window of rows the virtualised grid renders.
 */
export class GalleryState {
  folder = $state<string | null>(null);
  recursive = $state(false);
  /** raw: 10,000 entries need no deep proxies, and are replaced whole */
  photos = $state.raw<PhotoEntry[]>([]);
  /** photo files of the folder that cannot be read, told to the user so the folder does not look incomplete */
  unreadable = $state.raw<UnreadableFiles>({ count: 0, extensions: [] });
  loading = $state(false);

  sortKey = $state<SortKey>('name');
  descending = $state(false);
  filterText = $state('');
  editedOnly = $state(false);

  selected = $state.raw<ReadonlySet<string>>(new Set());
  /** the keyboard focus (and Enter's target), by path so it survives re-sorting */
  focusedPath = $state<string | null>(null);
  /** where Shift ranges start */
  anchorPath = $state<string | null>(null);

  viewportWidth = $state(0);
  viewportHeight = $state(0);
  scrollTop = $state(0);

  readonly arranged = $derived(
    arrangePhotos(this.photos, {
      sortKey: this.sortKey,
      descending: this.descending,
      text: this.filterText,
      editedOnly: this.editedOnly,
    }),
  );

  readonly indexByPath = $derived(new Map(this.arranged.map((photo, index) => [photo.path, index])));

  readonly focusedIndex = $derived(this.focusedPath === null ? -1 : (this.indexByPath.get(this.focusedPath) ?? -1));

  /** the selection among the photos shown, in their order */
  readonly selectedPaths = $derived(this.arranged.filter((p) => this.selected.has(p.path)).map((p) => p.path));

  readonly columns = $derived(columnsFor(this.viewportWidth, tileMinWidth, tileGap));

  readonly tileWidth = $derived(
    this.viewportWidth > 0
      ? Math.floor((this.viewportWidth - tileGap * (this.columns - 1)) / this.columns)
      : tileMinWidth,
  );

  readonly tileHeight = $derived(this.tileWidth + captionHeight);

  readonly metrics: GridMetrics = $derived({
    count: this.arranged.length,
    columns: this.columns,
    rowHeight: this.tileHeight + tileGap,
  });

  readonly window = $derived(virtualWindow(this.metrics, this.scrollTop, this.viewportHeight, overscanRows));

  /** the photos the grid renders now */
  readonly visibleSlice = $derived(this.arranged.slice(this.window.start, this.window.end));

  readonly editedCount = $derived(this.photos.reduce((n, p) => n + (p.editedFaces > 0 ? 1 : 0), 0));

  load(folder: string, photos: PhotoEntry[], unreadable: UnreadableFiles = { count: 0, extensions: [] }): void {
    this.folder = folder;
    this.photos = photos;
    this.unreadable = unreadable;
    this.selected = new Set();
    this.scrollTop = 0;
    this.focusedPath = this.arranged[0]?.path ?? null;
    this.anchorPath = this.focusedPath;
  }

  isSelected(path: string): boolean {
    return this.selected.has(path);
  }

  /** A pointer click on a tile, with the usual desktop modifiers. */
  click(path: string, modifiers: ClickModifiers = {}): void {
    const index = this.indexByPath.get(path);
    if (index === undefined) return;
    if (modifiers.range) {
      this.selectRangeTo(index, modifiers.toggle ?? false);
    } else if (modifiers.toggle) {
      this.toggle(path);
      this.anchorPath = path;
    } else {
      this.selected = new Set([path]);
      this.anchorPath = path;
    }
    this.focusedPath = path;
  }

  toggle(path: string): void {
    const next = new Set(this.selected);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    this.selected = next;
  }

  selectAll(): void {
    this.selected = new Set(this.arranged.map((p) => p.path));
  }

  clearSelection(): void {
    this.selected = new Set();
  }

  /** Keyboard handling of the grid: arrows and paging move the focus (Shift extends), Space toggles, Enter opens. */
  handleKey(key: string, modifiers: { shift?: boolean; ctrl?: boolean } = {}): KeyOutcome {
    const count = this.arranged.length;
    if (count === 0) return 'ignored';
    if (modifiers.ctrl && (key === 'a' || key === 'A')) {
      this.selectAll();
      return 'handled';
    }
    const current = Math.max(0, this.focusedIndex);
    const pageRows = Math.max(1, Math.floor(this.viewportHeight / this.metrics.rowHeight));
    let target: number;
    switch (key) {
      case 'ArrowLeft':
        target = current - 1;
        break;
      case 'ArrowRight':
        target = current + 1;
        break;
      case 'ArrowUp':
        target = current - this.columns;
        break;
      case 'ArrowDown':
        target = current + this.columns;
        break;
      case 'PageUp':
        target = current - pageRows * this.columns;
        break;
      case 'PageDown':
        target = current + pageRows * this.columns;
        break;
      case 'Home':
        target = 0;
        break;
      case 'End':
        target = count - 1;
        break;
      case ' ':
        if (this.focusedIndex >= 0) {
          this.toggle(this.arranged[this.focusedIndex]!.path);
          this.anchorPath = this.focusedPath;
        }
        return 'handled';
      case 'Enter':
        return this.focusedIndex >= 0 ? 'open' : 'ignored';
      case 'Escape':
        this.clearSelection();
        return 'handled';
      default:
        return 'ignored';
    }
    // Up and Down at the edges stay put rather than wrapping to another column.
    if (target < 0 || target >= count) {
      target = key === 'ArrowUp' || key === 'ArrowDown' ? current : Math.min(count - 1, Math.max(0, target));
    }
    this.focusIndex(target, modifiers.shift ?? false);
    return 'handled';
  }

  /** Moves the focus; with `extend` the selection becomes the range from the anchor, else the anchor follows. */
  focusIndex(index: number, extend = false): void {
    const photo = this.arranged[index];
    if (!photo) return;
    if (extend) this.selectRangeTo(index, false);
    else this.anchorPath = photo.path;
    this.focusedPath = photo.path;
    // The whole row, gap included: the grid has a gap's margin above the first row.
    this.scrollTop = scrollToReveal(this.metrics, index, this.scrollTop, this.viewportHeight);
  }

  /** After a save in the editor: the badge follows without reopening the folder. */
  markEdited(path: string, editedFaces: number): void {
    this.photos = this.photos.map((p) => (p.path === path ? { ...p, editedFaces } : p));
  }

  /** The photo after (or before) `path` in the shown order, for next/previous in the editor. */
  neighbour(path: string, step: 1 | -1): PhotoEntry | null {
    const index = this.indexByPath.get(path);
    if (index === undefined) return null;
    return this.arranged[index + step] ?? null;
  }

  private selectRangeTo(index: number, keepOthers: boolean): void {
    const anchor = this.anchorPath === null ? -1 : (this.indexByPath.get(this.anchorPath) ?? -1);
    const from = anchor < 0 ? index : Math.min(anchor, index);
    const to = anchor < 0 ? index : Math.max(anchor, index);
    const next = new Set(keepOthers ? this.selected : []);
    for (let i = from; i <= to; i++) next.add(this.arranged[i]!.path);
    this.selected = next;
    if (anchor < 0) this.anchorPath = this.arranged[index]!.path;
  }
}
