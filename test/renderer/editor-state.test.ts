import { describe, expect, test } from 'vitest';
import { EditorState, baselineOf, settingsOfTarget, targetOf } from '../../src-renderer/state/editor-state.svelte.js';
import { face } from './fixtures.js';

function editorWith(...faces: ReturnType<typeof face>[]) {
  const editor = new EditorState();
  editor.open('/photos/a.jpg');
  editor.detected({ width: 2000, height: 1500, faces });
  return editor;
}

describe('expression values', () => {
  test('smiling uses the intensity as the target; neutral mirrors it around one half', () => {
    expect(targetOf({ expression: 'smiling', intensity: 1 })).toBe(1);
    expect(targetOf({ expression: 'smiling', intensity: 1.5 })).toBe(1.5);
    expect(targetOf({ expression: 'neutral', intensity: 1 })).toBe(0);
    expect(targetOf({ expression: 'neutral', intensity: 1.5 })).toBe(-0.5);
    expect(targetOf({ expression: 'neutral', intensity: 0.5 })).toBe(0.5);
  });

  test('saved targets read back as the settings that made them', () => {
    for (const settings of [
      { expression: 'smiling', intensity: 1.25 },
      { expression: 'neutral', intensity: 1.5 },
      { expression: 'neutral', intensity: 0.8 },
      { expression: 'smiling', intensity: 0.5 },
    ] as const) {
      expect(settingsOfTarget(targetOf(settings))).toEqual(settings);
    }
    // beyond the slider's range the intensity is clamped
    expect(settingsOfTarget(2)).toEqual({ expression: 'smiling', intensity: 1.5 });
  });

  test('a face starts as it shows: smiling from a smile probability of one half', () => {
    expect(baselineOf(face('f', 0.93)).expression).toBe('smiling');
    expect(baselineOf(face('f', 0.2)).expression).toBe('neutral');
    expect(baselineOf(face('f', 0.2)).intensity).toBe(1);
  });
});

describe('EditorState', () => {
  test('faces left alone ask for no change; edited faces for their target, with their frame', () => {
    const editor = editorWith(face('face-1', 0.1), face('face-2', 0.9, 600));
    expect(editor.status).toBe('ready');
    expect(editor.selectedFaceId).toBe('face-1');
    expect(editor.hasEdits).toBe(false);
    expect(editor.faceChoices()).toEqual([
      { id: 'face-1', frame: face('face-1', 0.1).frame, target: 0.1 },
      { id: 'face-2', frame: face('face-2', 0.9, 600).frame, target: 0.9 },
    ]);
    expect(editor.editRecord()).toEqual([]);

    editor.setExpression('face-1', 'smiling');
    editor.setIntensity('face-1', 1.2);
    expect(editor.editedIds).toEqual(['face-1']);
    expect(editor.faceChoices()[0]).toEqual({ id: 'face-1', frame: face('face-1', 0.1).frame, target: 1.2 });
    expect(editor.editRecord()).toEqual([{ id: 'face-1', frame: face('face-1', 0.1).frame, source: 0.1, target: 1.2 }]);
  });

  test('undo and redo restore exact frames and values', () => {
    const editor = editorWith(face('face-1', 0.1));
    const original = { ...face('face-1', 0.1).frame };
    const moved = { centerX: 321.5, centerY: 222.25, size: 300.125, angle: 0.05 };
    const bigger = { ...moved, size: 410.75 };

    editor.setFrame('face-1', moved);
    editor.setFrame('face-1', bigger);
    editor.setExpression('face-1', 'smiling');
    expect(editor.settingsOf('face-1')).toEqual({ expression: 'smiling', intensity: 1, frame: bigger });

    editor.undo();
    expect(editor.settingsOf('face-1')).toEqual({ expression: 'neutral', intensity: 1, frame: bigger });
    editor.undo();
    expect(editor.settingsOf('face-1')!.frame).toEqual(moved);
    editor.undo();
    expect(editor.settingsOf('face-1')!.frame).toEqual(original);
    expect(editor.canUndo).toBe(false);
    expect(editor.hasEdits).toBe(false);

    editor.redo();
    editor.redo();
    expect(editor.settingsOf('face-1')!.frame).toEqual(bigger);
    editor.redo();
    expect(editor.settingsOf('face-1')!.expression).toBe('smiling');
    expect(editor.canRedo).toBe(false);

    // a new change after an undo drops the redo branch
    editor.undo();
    editor.setIntensity('face-1', 0.5);
    expect(editor.canRedo).toBe(false);
  });

  test('one drag is one undo step; the next drag is another', () => {
    const editor = editorWith(face('face-1', 0.1));
    const start = editor.settingsOf('face-1')!.frame;
    for (let dx = 1; dx <= 20; dx++) editor.setFrame('face-1', { ...start, centerX: start.centerX + dx }, 'move');
    editor.endGesture();
    const afterFirst = editor.settingsOf('face-1')!.frame;
    expect(afterFirst.centerX).toBe(start.centerX + 20);
    for (let s = 1; s <= 5; s++) editor.setFrame('face-1', { ...afterFirst, size: afterFirst.size + s }, 'resize');
    editor.endGesture();

    editor.undo();
    expect(editor.settingsOf('face-1')!.frame).toEqual(afterFirst);
    editor.undo();
    expect(editor.settingsOf('face-1')!.frame).toEqual(start);
    expect(editor.canUndo).toBe(false);
  });

  test('slider input coalesces per face: another face starts a new step', () => {
    const editor = editorWith(face('face-1', 0.1), face('face-2', 0.9, 600));
    editor.setIntensity('face-1', 1.1, 'intensity');
    editor.setIntensity('face-1', 1.2, 'intensity');
    editor.setIntensity('face-2', 0.7, 'intensity');
    editor.setIntensity('face-2', 0.6, 'intensity');
    editor.undo();
    expect(editor.settingsOf('face-2')!.intensity).toBe(1);
    expect(editor.settingsOf('face-1')!.intensity).toBe(1.2);
    editor.undo();
    expect(editor.settingsOf('face-1')!.intensity).toBe(1);
  });

  test('frames stay on the photo and above the smallest crop; intensity stays in range', () => {
    const editor = editorWith(face('face-1', 0.1));
    editor.setFrame('face-1', { centerX: -50, centerY: 99_999, size: 3, angle: 0.3 });
    expect(editor.settingsOf('face-1')!.frame).toEqual({ centerX: 0, centerY: 1500, size: 24, angle: 0.3 });
    editor.setIntensity('face-1', 9);
    expect(editor.settingsOf('face-1')!.intensity).toBe(1.5);
    editor.setIntensity('face-1', -9);
    expect(editor.settingsOf('face-1')!.intensity).toBe(-0.5);
  });

  test('a change to the same value is not an undo step', () => {
    const editor = editorWith(face('face-1', 0.1));
    editor.setExpression('face-1', 'neutral');
    expect(editor.canUndo).toBe(false);
    const revision = editor.revision;
    editor.setIntensity('face-1', 1);
    expect(editor.revision).toBe(revision);
  });

  test('reset goes back to the detected face in one step', () => {
    const editor = editorWith(face('face-1', 0.1), face('face-2', 0.9, 600));
    editor.setExpression('face-1', 'smiling');
    editor.setExpression('face-2', 'neutral');
    editor.resetFace('face-1');
    expect(editor.editedIds).toEqual(['face-2']);
    editor.resetAll();
    expect(editor.hasEdits).toBe(false);
    editor.undo();
    expect(editor.editedIds).toEqual(['face-2']);
  });

  test('saved edits are restored when the photo opens; faces no longer found are dropped', () => {
    const editor = new EditorState();
    editor.open('/photos/a.jpg');
    const frame = { centerX: 190, centerY: 205, size: 280, angle: 0 };
    editor.detected(
      { width: 2000, height: 1500, faces: [face('face-1', 0.1), face('face-2', 0.9, 600)] },
      {
        faces: [
          { id: 'face-1', frame, source: 0.1, target: 1.25 },
          { id: 'face-9', frame, source: 0.5, target: 0 },
        ],
        stale: true,
      },
    );
    expect(editor.staleEdits).toBe(true);
    expect(editor.settingsOf('face-1')).toEqual({ expression: 'smiling', intensity: 1.25, frame });
    expect(editor.editedIds).toEqual(['face-1']);
    expect(editor.editRecord()).toEqual([{ id: 'face-1', frame, source: 0.1, target: 1.25 }]);
    // restoring is where history starts
    expect(editor.canUndo).toBe(false);
  });

  test('opening another photo clears faces, choices and history', () => {
    const editor = editorWith(face('face-1', 0.1));
    editor.setExpression('face-1', 'smiling');
    editor.open('/photos/b.jpg');
    expect(editor.status).toBe('detecting');
    expect(editor.faces).toEqual([]);
    expect(editor.canUndo).toBe(false);
    expect(editor.faceChoices()).toEqual([]);
    editor.failed('No such file');
    expect(editor.status).toBe('failed');
    expect(editor.error).toBe('No such file');
  });
});
