/*
 * The main window's size and place between runs. The saved bounds are checked
 * against the displays there are now: a monitor unplugged since must not leave
 * the window off screen.
 */

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowState {
  bounds: Rect;
  maximized: boolean;
}

/** What the window opens with: a position only when it is on a display. */
export interface InitialWindowBounds {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export const defaultWindowSize = { width: 1280, height: 820 };
export const minimumWindowSize = { width: 800, height: 560 };

/** At least this much of the title bar's strip must show on some display to keep the saved place. */
const visibleMargin = 64;

export function readWindowState(saved: unknown): WindowState | null {
  if (typeof saved !== 'object' || saved === null) return null;
  const { bounds, maximized } = saved as Partial<Record<keyof WindowState, unknown>>;
  if (!isRect(bounds) || typeof maximized !== 'boolean') return null;
  return { bounds, maximized };
}

export function initialWindowBounds(saved: unknown, workAreas: readonly Rect[]): InitialWindowBounds {
  const state = readWindowState(saved);
  if (!state) return { ...defaultWindowSize, maximized: false };
  const area = workAreas.find((candidate) => showsTopStrip(state.bounds, candidate));
  const largest = largestArea(workAreas);
  const width = fit(state.bounds.width, minimumWindowSize.width, (area ?? largest)?.width);
  const height = fit(state.bounds.height, minimumWindowSize.height, (area ?? largest)?.height);
  if (!area) return { width, height, maximized: state.maximized };
  // Moved inside the display it was on; if it is still too big, its top left corner stays visible.
  const x = Math.max(area.x, Math.min(state.bounds.x, area.x + area.width - width));
  const y = Math.max(area.y, Math.min(state.bounds.y, area.y + area.height - height));
  return { x, y, width, height, maximized: state.maximized };
}

function isRect(value: unknown): value is Rect {
  if (typeof value !== 'object' || value === null) return false;
  const rect = value as Record<string, unknown>;
  return (
    ['x', 'y', 'width', 'height'].every((key) => Number.isFinite(rect[key])) &&
    (rect.width as number) > 0 &&
    (rect.height as number) > 0
  );
}

function showsTopStrip(window: Rect, area: Rect): boolean {
  const overlapX = Math.min(window.x + window.width, area.x + area.width) - Math.max(window.x, area.x);
  const titleBarOnArea = window.y >= area.y && window.y < area.y + area.height - visibleMargin;
  return overlapX >= visibleMargin && titleBarOnArea;
}

function largestArea(areas: readonly Rect[]): Rect | undefined {
  return [...areas].sort((a, b) => b.width * b.height - a.width * a.height)[0];
}

function fit(size: number, minimum: number, maximum: number | undefined): number {
  const upper = maximum === undefined ? size : Math.max(minimum, maximum);
  return Math.round(Math.min(Math.max(size, minimum), upper));
}
