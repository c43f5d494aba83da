import { describe, expect, it } from 'vitest';
import {
  clampView,
  faceView,
  fitScale,
  fitView,
  maxScale,
  maxZoom,
  panBy,
  stageLayout,
  visibleRegion,
  zoomAround,
  zoomForScale,
} from '../../src-renderer/lib/stage-view.js';

const stage = { width: 1048, height: 798 };
const photo = { width: 4000, height: 3000 };

describe('the editor stage view', () => {
  it('fits the whole photo, centred with a margin, at zoom 1', () => {
    const view = fitView(photo);
    const layout = stageLayout(stage, photo, view);
    expect(layout.scale).toBeCloseTo(0.25, 10);
    expect(layout.left).toBeCloseTo(24, 10);
    expect(layout.top).toBeCloseTo(24, 10);
    expect(visibleRegion(stage, photo, view)).toEqual({ left: 0, top: 0, width: 4000, height: 3000 });
  });

  it('zooms about the pointer: the photo point under it stays put', () => {
    const view = fitView(photo);
    const anchor = { x: 700, y: 300 };
    const before = stageLayout(stage, photo, view);
    const point = { x: (anchor.x - before.left) / before.scale, y: (anchor.y - before.top) / before.scale };
    const zoomed = zoomAround(stage, photo, view, 3, anchor);
    const after = stageLayout(stage, photo, zoomed);
    expect(zoomed.zoom).toBeCloseTo(3, 10);
    expect(after.left + point.x * after.scale).toBeCloseTo(anchor.x, 6);
    expect(after.top + point.y * after.scale).toBeCloseTo(anchor.y, 6);
  });

  it('keeps zoom between fit and 800%, and never pans past the photo edges', () => {
    expect(clampView(stage, photo, { zoom: 0.2, centerX: 0, centerY: 0 })).toEqual(fitView(photo));
    expect(maxZoom(stage, photo) * fitScale(stage, photo)).toBeCloseTo(maxScale, 10);
    const far = clampView(stage, photo, { zoom: 1000, centerX: -50, centerY: 99999 });
    expect(stageLayout(stage, photo, far).scale).toBeCloseTo(maxScale, 10);
    const layout = stageLayout(stage, photo, far);
    // The photo's left edge at the stage's left edge, its bottom edge at the stage's bottom.
    expect(layout.left).toBeCloseTo(0, 6);
    expect(layout.top + photo.height * layout.scale).toBeCloseTo(stage.height, 6);
    // A photo smaller than the stage on screen stays centred along that axis.
    const wide = { width: 4000, height: 500 };
    const zoomedWide = clampView(stage, wide, { zoom: 2, centerX: 100, centerY: 10 });
    expect(zoomedWide.centerY).toBe(250);
    expect(zoomedWide.centerX).toBeCloseTo(stage.width / 2 / stageLayout(stage, wide, zoomedWide).scale, 6);
  });

  it('pans with the pointer and shows the box of the photo on screen', () => {
    const zoomed = zoomForScale(stage, photo, fitView(photo), 1);
    expect(stageLayout(stage, photo, zoomed).scale).toBeCloseTo(1, 10);
    expect(visibleRegion(stage, photo, zoomed)).toEqual({ left: 1476, top: 1101, width: 1048, height: 798 });
    // Dragging the photo right by 100 stage pixels shows 100 photo pixels more on the left at 100%.
    const panned = panBy(stage, photo, zoomed, 100, -20);
    expect(visibleRegion(stage, photo, panned)).toEqual({ left: 1376, top: 1121, width: 1048, height: 798 });
  });

  it('zooms to a face: its crop frame centred, filling most of the stage', () => {
    const frame = { centerX: 1200, centerY: 900, size: 500, angle: 0.1 };
    const view = faceView(stage, photo, frame);
    const layout = stageLayout(stage, photo, view);
    expect(frame.size * layout.scale).toBeCloseTo(0.75 * stage.height, 6);
    expect(layout.left + frame.centerX * layout.scale).toBeCloseTo(stage.width / 2, 6);
    expect(layout.top + frame.centerY * layout.scale).toBeCloseTo(stage.height / 2, 6);
    // A face at the photo's corner: the view stops at the edges instead of centring it.
    const corner = faceView(stage, photo, { ...frame, centerX: 100, centerY: 100 });
    expect(stageLayout(stage, photo, corner).left).toBeCloseTo(0, 6);
  });
});
