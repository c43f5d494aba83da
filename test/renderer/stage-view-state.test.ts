import { describe, expect, it } from 'vitest';
import { StageViewState } from '../../src-renderer/state/stage-view.svelte.js';

const stage = { width: 1048, height: 798 };
const photo = { width: 4000, height: 3000 };

function opened(key = '/p/a.jpg') {
  const state = new StageViewState();
  state.setStage(stage);
  state.setPhoto(key, photo);
  return state;
}

describe('StageViewState', () => {
  it('fits each photo it is given, and keeps the view while the same photo stays', () => {
    const state = opened();
    expect(state.percent).toBe(25);
    expect(state.zoomed).toBe(false);
    state.zoomIn();
    expect(state.zoomed).toBe(true);
    state.setPhoto('/p/a.jpg', { ...photo });
    expect(state.zoomed).toBe(true);
    state.setPhoto('/p/b.jpg', { ...photo });
    expect(state.zoomed).toBe(false);
    expect(state.region).toEqual({ left: 0, top: 0, width: 4000, height: 3000 });
  });

  it('a double click goes to 100% at the point clicked, and the next one back to fit', () => {
    const state = opened();
    const point = { x: 300, y: 200 };
    const photoPoint = (p: { x: number; y: number }) => ({
      x: (p.x - state.layout.left) / state.layout.scale,
      y: (p.y - state.layout.top) / state.layout.scale,
    });
    const under = photoPoint(point);
    state.toggleAt(point);
    expect(state.percent).toBe(100);
    expect(photoPoint(point).x).toBeCloseTo(under.x, 6);
    expect(photoPoint(point).y).toBeCloseTo(under.y, 6);
    state.toggleAt(point);
    expect(state.percent).toBe(25);
  });

  it('counts 100% in display pixels, and knows when the preview is too coarse for the view', () => {
    const state = opened();
    state.pixelRatio = 2;
    expect(state.percent).toBe(50);
    expect(state.needsDetail(1600)).toBe(false);
    state.actualPixels();
    expect(state.percent).toBe(100);
    expect(state.layout.scale).toBeCloseTo(0.5, 10);
    // 4000 photo pixels on 4000 display pixels: more than a 1600-pixel preview holds.
    expect(state.needsDetail(1600)).toBe(true);
    expect(state.needsDetail(4000)).toBe(false);
    // A photo no larger than the preview is shown at full resolution by the preview itself.
    state.setPhoto('/p/small.jpg', { width: 1200, height: 900 });
    state.zoomAt(8, { x: 500, y: 400 });
    expect(state.zoomed).toBe(true);
    expect(state.needsDetail(1600)).toBe(false);
  });

  it('keeps its centre within the photo when the stage is resized', () => {
    const state = opened();
    state.toFace({ centerX: 3900, centerY: 2900, size: 400, angle: 0 });
    state.setStage({ width: 600, height: 500 });
    const { left, top, scale } = state.layout;
    expect(left + photo.width * scale).toBeCloseTo(600, 6);
    expect(top + photo.height * scale).toBeCloseTo(500, 6);
  });
});
