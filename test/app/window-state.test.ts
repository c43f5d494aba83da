import { describe, expect, it } from 'vitest';
import {
  defaultWindowSize,
  initialWindowBounds,
  minimumWindowSize,
  readWindowState,
} from '../../src-main/app/window-state.js';

const laptop = { x: 0, y: 0, width: 1920, height: 1050 };
const monitorOnTheRight = { x: 1920, y: 0, width: 2560, height: 1400 };

describe('saved window state', () => {
  it('keeps bounds that are on a display', () => {
    const saved = { bounds: { x: 2000, y: 100, width: 1400, height: 900 }, maximized: true };
    expect(initialWindowBounds(saved, [laptop, monitorOnTheRight])).toEqual({ ...saved.bounds, maximized: true });
  });

  it('drops the place of a window whose display is gone, keeping a size that fits', () => {
    const saved = { bounds: { x: 2000, y: 100, width: 2400, height: 1300 }, maximized: false };
    expect(initialWindowBounds(saved, [laptop])).toEqual({ width: 1920, height: 1050, maximized: false });
  });

  it('moves a window that hangs over the edge back onto its display', () => {
    const saved = { bounds: { x: 1500, y: 600, width: 1000, height: 800 }, maximized: false };
    expect(initialWindowBounds(saved, [laptop])).toEqual({
      x: 920,
      y: 250,
      width: 1000,
      height: 800,
      maximized: false,
    });
  });

  it('does not keep a window whose title bar is above the display', () => {
    const saved = { bounds: { x: 100, y: -500, width: 1000, height: 800 }, maximized: false };
    expect(initialWindowBounds(saved, [laptop]).x).toBeUndefined();
  });

  it('grows a window below the minimum size', () => {
    const saved = { bounds: { x: 10, y: 10, width: 100, height: 50 }, maximized: false };
    expect(initialWindowBounds(saved, [laptop])).toMatchObject({ x: 10, y: 10, ...minimumWindowSize });
  });

  it('falls back to the default for nothing or nonsense', () => {
    const fallback = { ...defaultWindowSize, maximized: false };
    for (const saved of [
      undefined,
      null,
      'big',
      { bounds: { x: 0, y: 0, width: 800 }, maximized: false },
      { bounds: { x: 0, y: 0, width: Number.NaN, height: 600 }, maximized: false },
      { bounds: { x: 0, y: 0, width: -800, height: 600 }, maximized: false },
      { bounds: { x: 0, y: 0, width: 800, height: 600 }, maximized: 'yes' },
    ]) {
      expect(readWindowState(saved)).toBeNull();
      expect(initialWindowBounds(saved, [laptop])).toEqual(fallback);
    }
  });
});
