import { describe, expect, test } from 'vitest';
import { columnsFor, scrollToReveal, virtualWindow } from '../../src-renderer/lib/virtual-grid.js';

describe('virtual grid', () => {
  // 10,000 photos, 6 per row, 200 px rows: 1667 rows, the last one with 4 photos.
  const metrics = { count: 10_000, columns: 6, rowHeight: 200 };

  test('columns fit the width, at least one', () => {
    expect(columnsFor(1200, 168, 12)).toBe(6);
    expect(columnsFor(1199, 168, 12)).toBe(6);
    expect(columnsFor(167, 168, 12)).toBe(1);
    expect(columnsFor(0, 168, 12)).toBe(1);
    expect(columnsFor(348, 168, 12)).toBe(2);
  });

  test('at the top only the first rows and the overscan are rendered', () => {
    const w = virtualWindow(metrics, 0, 700, 2);
    expect(w.totalHeight).toBe(1667 * 200);
    expect(w.firstRow).toBe(0);
    // rows 0..3 visible (700 px), plus 2 rows overscan below
    expect(w.rowCount).toBe(6);
    expect([w.start, w.end]).toEqual([0, 36]);
    expect(w.offsetY).toBe(0);
  });

  test('in the middle of 10,000 photos a few dozen are rendered', () => {
    const w = virtualWindow(metrics, 250_050, 700, 2);
    // first visible row 1250 (partly), last visible 1253; with overscan 1248..1255
    expect(w.firstRow).toBe(1248);
    expect(w.rowCount).toBe(8);
    expect([w.start, w.end]).toEqual([1248 * 6, 1256 * 6]);
    expect(w.end - w.start).toBe(48);
    expect(w.offsetY).toBe(1248 * 200);
  });

  test('at the bottom the window ends at the last photo', () => {
    const w = virtualWindow(metrics, 1667 * 200 - 700, 700, 2);
    expect(w.end).toBe(10_000);
    expect(w.firstRow).toBe(1663 - 2);
    // a scroll position past the end (the list shrank) is clamped, not empty
    const past = virtualWindow(metrics, 9_999_999, 700, 2);
    expect(past.end).toBe(10_000);
    expect(past.start).toBe(w.start);
  });

  test('an empty grid renders nothing', () => {
    expect(virtualWindow({ count: 0, columns: 4, rowHeight: 200 }, 0, 700)).toEqual({
      start: 0,
      end: 0,
      firstRow: 0,
      rowCount: 0,
      offsetY: 0,
      totalHeight: 0,
    });
  });

  test('revealing an item scrolls as little as possible', () => {
    // row 10 is at 2000..2200
    expect(scrollToReveal(metrics, 60, 1900, 700)).toBe(1900);
    expect(scrollToReveal(metrics, 60, 2100, 700)).toBe(2000);
    expect(scrollToReveal(metrics, 60, 1000, 700)).toBe(1500);
    expect(scrollToReveal(metrics, 9_999, 0, 700)).toBe(1667 * 200 - 700);
  });
});
