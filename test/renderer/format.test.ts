import { describe, expect, it } from 'vitest';
import { windowTitle } from '../../src-renderer/lib/format.js';

describe('windowTitle', () => {
  const open = { view: 'gallery', photo: null, folder: null, unsaved: false };

  it('names the app alone until a folder is open, then the folder', () => {
    expect(windowTitle(open)).toBe('Mien');
    expect(windowTitle({ ...open, folder: '/home/ana/Photos/2024/' })).toBe('2024 — Mien');
  });

  it('names the photo in the editor, marked while its edits are not saved', () => {
    const editing = {
      ...open,
      view: 'editor',
      photo: '/home/ana/Photos/2024/beach.jpg',
      folder: '/home/ana/Photos/2024',
    };
    expect(windowTitle(editing)).toBe('beach.jpg — Mien');
    expect(windowTitle({ ...editing, unsaved: true })).toBe('• beach.jpg — Mien');
    // Other views name the folder even with a photo open in the editor.
    expect(windowTitle({ ...editing, view: 'batch' })).toBe('2024 — Mien');
  });
});
