import type { CropFrame, PhotoRegion } from '../../src-main/contract/ipc-contract.js';
import type { Size } from '../lib/frame-geometry.js';
import {
  clampView,
  faceView,
  fitView,
  maxZoom,
  panBy,
  stageLayout,
  visibleRegion,
  zoomAround,
  zoomForScale,
  type StageView,
} from '../lib/stage-view.js';

/** One press of zoom in or out. */
const zoomStep = Math.SQRT2;

/**
 * The editor stage's zoom and pan: starts fitted to each photo the editor
 * opens, and keeps every change within the photo (see `clampView`).
 */
export class StageViewState {
  stage = $state.raw<Size>({ width: 0, height: 0 });
  photo = $state.raw<Size>({ width: 0, height: 0 });
  view = $state.raw<StageView>({ zoom: 1, centerX: 0, centerY: 0 });
  /** physical pixels per CSS pixel, for "100%" (one photo pixel on one pixel of the display) */
  pixelRatio = $state(1);

  readonly layout = $derived(stageLayout(this.stage, this.photo, this.view));
  readonly region = $derived<PhotoRegion | undefined>(visibleRegion(this.stage, this.photo, this.view));
  /** photo pixels per display pixel, as a percentage (100: actual pixels) */
  readonly percent = $derived(Math.round(this.layout.scale * this.pixelRatio * 100));
  readonly zoomed = $derived(this.view.zoom > 1 + 1e-6);
  readonly canZoomIn = $derived(this.view.zoom < maxZoom(this.stage, this.photo) - 1e-6);

  private photoKey = '';

  /** The stage was resized: the view keeps its centre and zoom, within the new limits. */
  setStage(stage: Size): void {
    if (stage.width === this.stage.width && stage.height === this.stage.height) return;
    this.stage = stage;
    this.view = clampView(stage, this.photo, this.view);
  }

  /** Another photo (or the same one's true size, once known): the view fits it again. */
  setPhoto(key: string, photo: Size): void {
    const changed = key !== this.photoKey || photo.width !== this.photo.width || photo.height !== this.photo.height;
    if (!changed) return;
    this.photoKey = key;
    this.photo = photo;
    this.view = fitView(photo);
  }

  fit(): void {
    this.view = fitView(this.photo);
  }

  zoomIn(): void {
    this.zoomAt(zoomStep, this.centre());
  }

  zoomOut(): void {
    this.zoomAt(1 / zoomStep, this.centre());
  }

  /** One photo pixel on one pixel of the display, about the stage's centre. */
  actualPixels(): void {
    this.view = zoomForScale(this.stage, this.photo, this.view, 1 / this.pixelRatio);
  }

  /** Centres the face's crop frame, large. */
  toFace(frame: CropFrame): void {
    this.view = faceView(this.stage, this.photo, frame);
  }

  /** Zooms keeping the photo point under `point` (stage pixels) in place: the wheel zooms where the pointer is. */
  zoomAt(factor: number, point: { x: number; y: number }): void {
    this.view = zoomAround(this.stage, this.photo, this.view, factor, point);
  }

  /** A double click: back to fit when zoomed in, otherwise actual pixels at the point clicked. */
  toggleAt(point: { x: number; y: number }): void {
    if (this.zoomed) {
      this.fit();
      return;
    }
    const actual = 1 / this.pixelRatio / this.layout.scale;
    this.zoomAt(actual, point);
  }

  pan(dx: number, dy: number): void {
    this.view = panBy(this.stage, this.photo, this.view, dx, dy);
  }

  /**
   * Whether the view shows the photo finer than a preview `previewSide` long
   * holds it: then a zoomed view needs full-resolution images. A photo no
   * larger than the preview never does (its preview is full resolution).
   */
  needsDetail(previewSide: number): boolean {
    const longest = Math.max(this.photo.width, this.photo.height);
    return longest > previewSide && this.zoomed && this.layout.scale * this.pixelRatio * longest > previewSide;
  }

  private centre() {
    return { x: this.stage.width / 2, y: this.stage.height / 2 };
  }
}
