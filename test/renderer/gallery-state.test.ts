import { describe, expect, test } from 'vitest';
import { arrangePhotos } from '../../src-renderer/lib/photo-order.js';
import { GalleryState } from '../../src-renderer/state/gallery-state.svelte.js';
import { entry, photoEntries } from './fixtures.js';

const names = (photos: { name: string }[]) => photos.map((p) => p.name);

describe('photo order', () => {
  const photos = [
    entry('img10.jpg', { bytes: 300, modifiedMs: 3, editedFaces: 2 }),
    entry('IMG2.jpg', { bytes: 100, modifiedMs: 1 }),
    entry('beach.png', { bytes: 200, modifiedMs: 2, folder: 'holiday' }),
    entry('img1.jpg', { bytes: 200, modifiedMs: 5 }),
  ];
  const order = { sortKey: 'name' as const, descending: false, text: '', editedOnly: false };

  test('names sort naturally and case-insensitively, by their subfolder path', () => {
    // beach.png sorts as 'holiday/beach.png': after 'h', before 'i'
    expect(names(arrangePhotos(photos, order))).toEqual(['beach.png', 'img1.jpg', 'IMG2.jpg', 'img10.jpg']);
    expect(names(arrangePhotos(photos, { ...order, descending: true }))).toEqual([
      'img10.jpg',
      'IMG2.jpg',
      'img1.jpg',
      'beach.png',
    ]);
  });

  test('date and size sort, ties broken by name', () => {
    expect(names(arrangePhotos(photos, { ...order, sortKey: 'date' }))).toEqual([
      'IMG2.jpg',
      'beach.png',
      'img10.jpg',
      'img1.jpg',
    ]);
    expect(names(arrangePhotos(photos, { ...order, sortKey: 'size' }))).toEqual([
      'IMG2.jpg',
      'beach.png',
      'img1.jpg',
      'img10.jpg',
    ]);
  });

  test('the filter matches name and folder; edited only keeps photos with an edit record', () => {
    expect(names(arrangePhotos(photos, { ...order, text: 'IMG1' }))).toEqual(['img1.jpg', 'img10.jpg']);
    expect(names(arrangePhotos(photos, { ...order, text: 'holi' }))).toEqual(['beach.png']);
    expect(names(arrangePhotos(photos, { ...order, editedOnly: true }))).toEqual(['img10.jpg']);
    expect(arrangePhotos(photos, { ...order, text: 'nothing' })).toEqual([]);
  });

  test('arranging leaves the input untouched', () => {
    const copy = [...photos];
    arrangePhotos(photos, { ...order, sortKey: 'size', descending: true });
    expect(photos).toEqual(copy);
  });
});

function gallery(photos = photoEntries(10_000), width = 1200, height = 700) {
  const state = new GalleryState();
  state.load('/photos', photos);
  state.viewportWidth = width;
  state.viewportHeight = height;
  return state;
}

describe('GalleryState', () => {
  test('a 10,000-photo folder renders only the rows in view', () => {
    const state = gallery();
    expect(state.columns).toBe(6);
    expect(state.arranged).toHaveLength(10_000);
    const rowHeight = state.metrics.rowHeight;
    expect(state.window.start).toBe(0);
    expect(state.visibleSlice.length).toBeLessThan(100);

    state.scrollTop = 1000 * rowHeight;
    expect(state.window.start).toBe((1000 - 3) * 6);
    expect(state.visibleSlice[0]!.name).toBe(`photo-${String((1000 - 3) * 6 + 1).padStart(5, '0')}.jpg`);
    expect(state.visibleSlice.length).toBeLessThan(100);
  });

  test('click selects one, Ctrl-click toggles, Shift-click selects the range from the anchor', () => {
    const state = gallery(photoEntries(20));
    const path = (i: number) => state.arranged[i]!.path;

    state.click(path(2));
    expect(state.selectedPaths).toEqual([path(2)]);

    state.click(path(5), { toggle: true });
    expect(state.selectedPaths).toEqual([path(2), path(5)]);

    // the anchor moved to 5 with the Ctrl-click: Shift-click at 8 selects 5..8 only
    state.click(path(8), { range: true });
    expect(state.selectedPaths).toEqual([path(5), path(6), path(7), path(8)]);

    // a range backwards from the same anchor replaces it
    state.click(path(3), { range: true });
    expect(state.selectedPaths).toEqual([path(3), path(4), path(5)]);

    // Ctrl+Shift adds the range to what is selected
    state.click(path(10), { toggle: true });
    state.click(path(12), { toggle: true, range: true });
    expect(state.selectedPaths).toEqual([path(3), path(4), path(5), path(10), path(11), path(12)]);

    state.click(path(5), { toggle: true });
    expect(state.isSelected(path(5))).toBe(false);
    expect(state.focusedPath).toBe(path(5));
  });

  test('the keyboard moves the focus by tiles and rows, Shift extends, Space toggles, Enter opens', () => {
    const state = gallery(photoEntries(20), 740, 700); // 4 columns
    expect(state.columns).toBe(4);
    expect(state.focusedIndex).toBe(0);

    expect(state.handleKey('ArrowRight')).toBe('handled');
    expect(state.focusedIndex).toBe(1);
    state.handleKey('ArrowDown');
    expect(state.focusedIndex).toBe(5);
    state.handleKey('ArrowLeft');
    expect(state.focusedIndex).toBe(4);
    state.handleKey('ArrowUp');
    expect(state.focusedIndex).toBe(0);
    // Up on the first row stays put
    state.handleKey('ArrowUp');
    expect(state.focusedIndex).toBe(0);

    state.handleKey('ArrowRight', { shift: true });
    state.handleKey('ArrowDown', { shift: true });
    expect(state.selectedPaths).toEqual([0, 1, 2, 3, 4, 5].map((i) => state.arranged[i]!.path));

    state.handleKey(' ');
    expect(state.isSelected(state.arranged[5]!.path)).toBe(false);

    state.handleKey('End');
    expect(state.focusedIndex).toBe(19);
    state.handleKey('ArrowDown');
    expect(state.focusedIndex).toBe(19);
    expect(state.handleKey('Enter')).toBe('open');
    expect(state.handleKey('x')).toBe('ignored');

    state.handleKey('a', { ctrl: true });
    expect(state.selectedPaths).toHaveLength(20);
    state.handleKey('Escape');
    expect(state.selectedPaths).toHaveLength(0);
  });

  test('moving the focus off screen scrolls to it', () => {
    const state = gallery();
    state.handleKey('End');
    expect(state.focusedIndex).toBe(9_999);
    expect(state.scrollTop).toBe(state.window.totalHeight - 700);
    expect(state.window.end).toBe(10_000);
    state.handleKey('Home');
    expect(state.scrollTop).toBe(0);
    state.handleKey('PageDown');
    const pageRows = Math.floor(700 / state.metrics.rowHeight);
    expect(state.focusedIndex).toBe(pageRows * 6);
  });

  test('Ctrl+A selects only what the filter shows, and the selection follows the shown order', () => {
    const state = gallery(photoEntries(100));
    state.editedOnly = true;
    state.selectAll();
    expect(state.selectedPaths).toHaveLength(10);
    state.editedOnly = false;
    state.descending = true;
    expect(state.selectedPaths[0]).toBe('/photos/photo-00091.jpg');
    expect(state.selectedPaths.at(-1)).toBe('/photos/photo-00001.jpg');
  });

  test('focus is kept by path across re-sorting', () => {
    const state = gallery(photoEntries(50));
    state.click('/photos/photo-00003.jpg');
    state.descending = true;
    expect(state.focusedIndex).toBe(47);
    expect(state.neighbour('/photos/photo-00003.jpg', 1)!.name).toBe('photo-00002.jpg');
    expect(state.neighbour('/photos/photo-00050.jpg', -1)).toBeNull();
  });

  test('a saved edit updates the badge count and the edited-only filter', () => {
    const state = gallery(photoEntries(30));
    expect(state.editedCount).toBe(3);
    state.markEdited('/photos/photo-00002.jpg', 2);
    expect(state.editedCount).toBe(4);
    state.editedOnly = true;
    expect(names(state.arranged)).toContain('photo-00002.jpg');
    state.markEdited('/photos/photo-00002.jpg', 0);
    expect(names(state.arranged)).not.toContain('photo-00002.jpg');
  });

  test('loading another folder clears the selection and focuses its first photo', () => {
    const state = gallery(photoEntries(10));
    state.selectAll();
    state.load('/other', [entry('b.jpg'), entry('a.jpg')]);
    expect(state.selectedPaths).toEqual([]);
    expect(state.focusedPath).toBe('/photos/a.jpg');
    expect(state.scrollTop).toBe(0);
  });
});
