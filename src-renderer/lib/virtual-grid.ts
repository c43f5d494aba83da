/** Geometry of a virtualised grid of equal tiles: only the rows in view (plus overscan) are rendered. */
export interface GridMetrics {
  count: number;
  columns: number;
  /** height of one row including the gap below it */
  rowHeight: number;
}

export interface VirtualWindow {
  /** first and one-past-last item index to render */
  start: number;
  end: number;
  firstRow: number;
  /** rows to render */
  rowCount: number;
  /** where the first rendered row sits, from the top of the content */
  offsetY: number;
  /** full scroll height of the content */
  totalHeight: number;
}

/** How many tiles of at least `minTileWidth` fit across `width`, with `gap` between them (at least one). */
export function columnsFor(width: number, minTileWidth: number, gap: number): number {
  if (!(width > 0)) return 1;
  return Math.max(1, Math.floor((width + gap) / (minTileWidth + gap)));
}

export function rowsFor(metrics: GridMetrics): number {
  return Math.ceil(metrics.count / Math.max(1, metrics.columns));
}

export function virtualWindow(
  metrics: GridMetrics,
  scrollTop: number,
  viewportHeight: number,
  overscanRows = 2,
): VirtualWindow {
  const rows = rowsFor(metrics);
  const totalHeight = rows * metrics.rowHeight;
  if (rows === 0 || metrics.rowHeight <= 0) {
    return { start: 0, end: 0, firstRow: 0, rowCount: 0, offsetY: 0, totalHeight };
  }
  // Scroll positions past the end happen while the list shrinks under a scrolled view.
  const top = Math.min(Math.max(0, scrollTop), Math.max(0, totalHeight - viewportHeight));
  const firstVisible = Math.floor(top / metrics.rowHeight);
  const lastVisible = Math.ceil((top + Math.max(0, viewportHeight)) / metrics.rowHeight) - 1;
  const firstRow = Math.max(0, firstVisible - overscanRows);
  const lastRow = Math.min(rows - 1, Math.max(firstVisible, lastVisible) + overscanRows);
  const start = firstRow * metrics.columns;
  const end = Math.min(metrics.count, (lastRow + 1) * metrics.columns);
  return { start, end, firstRow, rowCount: lastRow - firstRow + 1, offsetY: firstRow * metrics.rowHeight, totalHeight };
}

/** The scrollTop that brings item `index` fully into view, moving as little as possible. */
export function scrollToReveal(
  metrics: GridMetrics,
  index: number,
  scrollTop: number,
  viewportHeight: number,
  tileHeight = metrics.rowHeight,
): number {
  const row = Math.floor(index / Math.max(1, metrics.columns));
  const top = row * metrics.rowHeight;
  const bottom = top + tileHeight;
  if (top < scrollTop) return top;
  if (bottom > scrollTop + viewportHeight) return Math.max(0, bottom - viewportHeight);
  return scrollTop;
}
