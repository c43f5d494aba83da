import type { CropFrame, PhotoRegion } from '../../src-main/contract/ipc-contract.js';
import type { Size } from './frame-geometry.js';

/**
 * How the editor's stage shows the photo: `zoom` is relative to fitting the
 * whole photo (1 = fit), and (`centerX`, `centerY`) is the photo point, in its
 * own pixels, drawn at the stage's centre.
 */
export interface StageView {
  zoom: number;
  centerX: number;
  centerY: number;
}

/** The photo as laid out on the stage: its top-left corner in stage pixels and stage pixels per photo pixel. */
export interface StageLayout {
  left: number;
  top: number;
  scale: number;
}

/** Space kept around the photo when it fits the stage. */
export const fitMargin = 24;
/** The closest view: this many stage pixels per photo pixel (800%). */
export const maxScale = 8;

/** Stage pixels per photo pixel when the whole photo fits, with a margin around it. */
export function fitScale(stage: Size, photo: Size): number {
  if (!(photo.width > 0 && photo.height > 0)) return 1;
  const width = Math.max(1, stage.width - 2 * fitMargin);
  const height = Math.max(1, stage.height - 2 * fitMargin);
  return Math.min(width / photo.width, height / photo.height);
}

export function fitView(photo: Size): StageView {
  return { zoom: 1, centerX: photo.width / 2, centerY: photo.height / 2 };
}

/** The zoom range: from fitting the photo to `maxScale`, or to fit for a photo smaller than that on screen. */
export function maxZoom(stage: Size, photo: Size): number {
  return Math.max(1, maxScale / fitScale(stage, photo));
}

/**
 * A view kept within its limits: zoom between fit and `maxZoom`; along each
 * axis the photo stays centred while it is smaller than the stage, and
 * otherwise covers the stage (no panning past its edges).
 */
export function clampView(stage: Size, photo: Size, view: StageView): StageView {
  const zoom = Math.min(Math.max(view.zoom, 1), maxZoom(stage, photo));
  const scale = fitScale(stage, photo) * zoom;
  const axis = (center: number, photoSide: number, stageSide: number) => {
    const half = stageSide / (2 * scale);
    return photoSide * scale <= stageSide ? photoSide / 2 : Math.min(Math.max(center, half), photoSide - half);
  };
  return {
    zoom,
    centerX: axis(view.centerX, photo.width, stage.width),
    centerY: axis(view.centerY, photo.height, stage.height),
  };
}

export function stageLayout(stage: Size, photo: Size, view: StageView): StageLayout {
  const scale = fitScale(stage, photo) * view.zoom;
  return { scale, left: stage.width / 2 - view.centerX * scale, top: stage.height / 2 - view.centerY * scale };
}

/** Zooms by `factor` keeping the photo point under `anchor` (stage pixels) where it is. */
export function zoomAround(
  stage: Size,
  photo: Size,
  view: StageView,
  factor: number,
  anchor: { x: number; y: number },
): StageView {
  const before = stageLayout(stage, photo, view);
  const pointX = (anchor.x - before.left) / before.scale;
  const pointY = (anchor.y - before.top) / before.scale;
  const zoom = Math.min(Math.max(view.zoom * factor, 1), maxZoom(stage, photo));
  const scale = fitScale(stage, photo) * zoom;
  // The same photo point under the anchor: anchor = stage/2 - center*scale + point*scale.
  const centerX = pointX - (anchor.x - stage.width / 2) / scale;
  const centerY = pointY - (anchor.y - stage.height / 2) / scale;
  return clampView(stage, photo, { zoom, centerX, centerY });
}

/** Moves the view by a drag of (`dx`, `dy`) stage pixels: the photo follows the pointer. */
export function panBy(stage: Size, photo: Size, view: StageView, dx: number, dy: number): StageView {
  const scale = fitScale(stage, photo) * view.zoom;
  return clampView(stage, photo, { ...view, centerX: view.centerX - dx / scale, centerY: view.centerY - dy / scale });
}

/** The zoom at which one photo pixel is `screenPixels` stage pixels (1 / devicePixelRatio: one pixel of the display). */
export function zoomForScale(stage: Size, photo: Size, view: StageView, screenPixels: number): StageView {
  return clampView(stage, photo, { ...view, zoom: screenPixels / fitScale(stage, photo) });
}

/** A view centred on a face whose crop frame fills `share` of the stage's shorter side. */
export function faceView(stage: Size, photo: Size, frame: CropFrame, share = 0.75): StageView {
  const scale = (share * Math.min(stage.width, stage.height)) / frame.size;
  const zoom = scale / fitScale(stage, photo);
  return clampView(stage, photo, { zoom, centerX: frame.centerX, centerY: frame.centerY });
}

/** The box of the photo the stage shows, in whole photo pixels (undefined before the stage has a size). */
export function visibleRegion(stage: Size, photo: Size, view: StageView): PhotoRegion | undefined {
  const { left, top, scale } = stageLayout(stage, photo, view);
  const x0 = Math.max(0, Math.floor(-left / scale));
  const y0 = Math.max(0, Math.floor(-top / scale));
  const x1 = Math.min(photo.width, Math.ceil((stage.width - left) / scale));
  const y1 = Math.min(photo.height, Math.ceil((stage.height - top) / scale));
  if (!(x1 > x0 && y1 > y0)) return undefined;
  return { left: x0, top: y0, width: x1 - x0, height: y1 - y0 };
}
