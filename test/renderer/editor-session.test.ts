import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { EditorSession } from '../../src-renderer/state/editor-session.svelte.js';
import { EditorState } from '../../src-renderer/state/editor-state.svelte.js';
import { Notifications } from '../../src-renderer/state/notifications.svelte.js';
import { face, fakeBackend, type Handler } from './fixtures.js';

const detection = { width: 2000, height: 1500, faces: [face('face-1', 0.1), face('face-2', 0.9, 600)] };
const jpeg = { image: new Uint8Array([0xff, 0xd8]), mime: 'image/jpeg', width: 1600, height: 1200 };

describe('EditorSession', () => {
  let urls: number;
  beforeEach(() => {
    vi.useFakeTimers();
    urls = 0;
    vi.stubGlobal('URL', { createObjectURL: () => `blob:${++urls}`, revokeObjectURL: () => {} });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  function setup(handlers: Record<string, Handler> = {}) {
    const backend = fakeBackend({
      'photo:faces': () => detection,
      'photo:edits': () => null,
      'photo:preview': () => jpeg,
      'photo:saveEdits': () => ({ ok: true }),
      ...handlers,
    });
    const editor = new EditorState();
    const notices = new Notifications();
    const saved: [string, number][] = [];
    const session = new EditorSession(backend.api, editor, notices, {
      saved: (photo, count) => saved.push([photo, count]),
    });
    const channels = () => backend.calls.map((c) => c.channel);
    return { ...backend, editor, notices, session, saved, channels };
  }

  test('opening a photo detects its faces; with nothing edited there is no preview and nothing to save', async () => {
    const { session, editor, channels } = setup();
    await session.open('/p/a.jpg');
    expect(editor.status).toBe('ready');
    expect(editor.faces).toHaveLength(2);
    await vi.runAllTimersAsync();
    expect(channels().sort()).toEqual(['photo:edits', 'photo:faces']);
    expect(session.previewUrl).toBeNull();
  });

  test('a change asks for a preview with every face after the debounce, then saves the edited faces', async () => {
    const { session, editor, calls, saved } = setup();
    await session.open('/p/a.jpg');
    editor.setExpression('face-1', 'smiling');
    session.changed();
    editor.setIntensity('face-1', 1.3);
    session.changed();
    await vi.advanceTimersByTimeAsync(250);

    const previews = calls.filter((c) => c.channel === 'photo:preview');
    expect(previews).toHaveLength(1);
    expect(previews[0]!.payload).toEqual({
      photo: '/p/a.jpg',
      maxSide: 1600,
      faces: [
        { id: 'face-1', frame: detection.faces[0]!.frame, target: 1.3 },
        { id: 'face-2', frame: detection.faces[1]!.frame, target: 0.9 },
      ],
    });
    expect(session.previewUrl).toBe('blob:1');

    await vi.advanceTimersByTimeAsync(1000);
    const saves = calls.filter((c) => c.channel === 'photo:saveEdits');
    expect(saves.map((c) => c.payload)).toEqual([
      {
        photo: '/p/a.jpg',
        faces: [{ id: 'face-1', frame: detection.faces[0]!.frame, source: 0.1, target: 1.3 }],
      },
    ]);
    expect(saved).toEqual([['/p/a.jpg', 1]]);
    expect(session.unsaved).toBe(false);
  });

  test('saved edits are restored and previewed when the photo opens, without writing them again', async () => {
    const frame = { centerX: 200, centerY: 200, size: 250, angle: 0 };
    const { session, editor, channels } = setup({
      'photo:edits': () => ({ faces: [{ id: 'face-2', frame, source: 0.9, target: -0.25 }], stale: false }),
    });
    await session.open('/p/a.jpg');
    expect(editor.settingsOf('face-2')).toEqual({ expression: 'neutral', intensity: 1.25, frame });
    await vi.runAllTimersAsync();
    expect(channels()).toContain('photo:preview');
    expect(channels()).not.toContain('photo:saveEdits');
    expect(session.previewUrl).toBe('blob:1');
  });

  test('undoing every edit goes back to the original and clears the record', async () => {
    const { session, editor, calls } = setup();
    await session.open('/p/a.jpg');
    editor.setExpression('face-1', 'smiling');
    session.changed();
    await vi.runAllTimersAsync();
    expect(session.previewUrl).not.toBeNull();
    editor.undo();
    session.changed();
    expect(session.previewUrl).toBeNull();
    await vi.runAllTimersAsync();
    expect(calls.filter((c) => c.channel === 'photo:saveEdits').at(-1)!.payload).toEqual({
      photo: '/p/a.jpg',
      faces: [],
    });
  });

  test('pending edits are written before another photo opens', async () => {
    const { session, editor, calls } = setup();
    await session.open('/p/a.jpg');
    editor.setExpression('face-1', 'smiling');
    session.changed();
    await session.open('/p/b.jpg');
    const saves = calls.filter((c) => c.channel === 'photo:saveEdits');
    expect(saves).toHaveLength(1);
    expect(saves[0]!.payload.photo).toBe('/p/a.jpg');
    expect(editor.photo).toBe('/p/b.jpg');
  });

  test('a detection failure is shown, not thrown', async () => {
    const { session, editor, notices } = setup({
      'photo:faces': () => {
        throw new Error('Not a photo Mien can read: a.txt');
      },
    });
    await session.open('/p/a.txt');
    expect(editor.status).toBe('failed');
    expect(editor.error).toBe('Not a photo Mien can read: a.txt');
    expect(notices.errors.map((n) => n.message)).toEqual(['Finding faces: Not a photo Mien can read: a.txt']);
  });

  test('a photo with no face is ready with nothing to edit', async () => {
    const { session, editor } = setup({ 'photo:faces': () => ({ width: 640, height: 480, faces: [] }) });
    await session.open('/p/landscape.jpg');
    expect(editor.status).toBe('ready');
    expect(editor.faces).toEqual([]);
    expect(editor.faceChoices()).toEqual([]);
  });

  test('the detection of a photo left behind does not land in the next one', async () => {
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const { session, editor } = setup({
      'photo:faces': async (payload) => {
        if (payload.photo === '/p/slow.jpg') {
          await slow;
          return { width: 10, height: 10, faces: [face('stale', 0.5)] };
        }
        return detection;
      },
    });
    const first = session.open('/p/slow.jpg');
    await session.open('/p/a.jpg');
    release();
    await first;
    expect(editor.photo).toBe('/p/a.jpg');
    expect(editor.faces.map((f) => f.id)).toEqual(['face-1', 'face-2']);
  });

  test('export sends every face choice with the output options', async () => {
    const { session, editor, calls } = setup({ 'photo:export': () => ({ file: '/out/a-edited.jpg' }) });
    await session.open('/p/a.jpg');
    editor.setExpression('face-1', 'smiling');
    await expect(session.exportPhoto({ outDir: '/out', format: 'png', quality: 90 })).resolves.toBe(
      '/out/a-edited.jpg',
    );
    expect(calls.find((c) => c.channel === 'photo:export')!.payload).toEqual({
      photo: '/p/a.jpg',
      outDir: '/out',
      format: 'png',
      quality: 90,
      faces: editor.faceChoices(),
    });
  });

  describe('zoomed in', () => {
    const region = { left: 800, top: 300, width: 400, height: 300 };
    const view = { region, maxSide: 800 };
    const regionReply = (payload: Record<string, unknown>) => ({ ...jpeg, region: payload['region'] ?? region });

    test('keeps full-resolution images of the box on screen: the original, and the edit once there is one', async () => {
      const { session, editor, calls } = setup({ 'photo:preview': regionReply });
      await session.open('/p/a.jpg');
      session.showDetail(view);
      await vi.advanceTimersByTimeAsync(250);
      const asked = () => calls.filter((c) => c.channel === 'photo:preview').map((c) => c.payload);
      expect(asked()).toEqual([{ photo: '/p/a.jpg', faces: [], region, maxSide: 800 }]);
      expect(session.originalDetail.image?.region).toEqual(region);
      expect(session.editedDetail.image).toBeNull();

      editor.setExpression('face-1', 'smiling');
      session.changed();
      await vi.advanceTimersByTimeAsync(250);
      expect(asked().slice(1)).toEqual([
        { photo: '/p/a.jpg', faces: editor.faceChoices(), maxSide: 1600 },
        { photo: '/p/a.jpg', faces: editor.faceChoices(), region, maxSide: 800 },
      ]);
      expect(session.editedDetail.image?.region).toEqual(region);

      // The same view again asks for nothing; undoing the edit drops the edited image.
      session.showDetail({ region: { ...region }, maxSide: 800 });
      editor.undo();
      session.changed();
      await vi.advanceTimersByTimeAsync(250);
      expect(asked()).toHaveLength(3);
      expect(session.editedDetail.image).toBeNull();
      expect(session.originalDetail.image).not.toBeNull();
    });

    test('zooming out or opening another photo drops them, and a late reply for the old photo is ignored', async () => {
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      const { session } = setup({
        'photo:preview': async (payload) => {
          if (payload['photo'] === '/p/a.jpg') await held;
          return regionReply(payload);
        },
      });
      await session.open('/p/a.jpg');
      session.showDetail(view);
      await vi.advanceTimersByTimeAsync(250);
      await session.open('/p/b.jpg');
      release();
      await vi.runAllTimersAsync();
      expect(session.originalDetail.image).toBeNull();

      session.showDetail(view);
      await vi.advanceTimersByTimeAsync(250);
      expect(session.originalDetail.image?.region).toEqual(region);
      session.showDetail(null);
      expect(session.originalDetail.image).toBeNull();
    });
  });
});
