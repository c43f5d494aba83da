import type { CropFrame } from '../../src-main/contract/ipc-contract.js';

export interface Size {
  width: number;
  height: number;
}

export interface Rect extends Size {
  left: number;
  top: number;
}

/** The largest rect of the image's aspect that fits the container, centred (what object-fit: contain draws). */
export function fitRect(container: Size, image: Size): Rect {
  if (!(container.width > 0 && container.height > 0 && image.width > 0 && image.height > 0)) {
    return { left: 0, top: 0, width: 0, height: 0 };
  }
  const scale = Math.min(container.width / image.width, container.height / image.height);
  const width = image.width * scale;
  const height = image.height * scale;
  return { left: (container.width - width) / 2, top: (container.height - height) / 2, width, height };
}

/** Smallest crop the tool allows, in photo pixels: below that the model sees mostly blur. */
export const minFrameSize = 24;

export function clampFrame(frame: CropFrame, photo: Size): CropFrame {
  const longest = Math.max(photo.width, photo.height);
  // The crop may hang over the border (edge pixels are repeated) but its centre stays on the photo.
  return {
    centerX: Math.min(Math.max(frame.centerX, 0), photo.width),
    centerY: Math.min(Math.max(frame.centerY, 0), photo.height),
    size: Math.min(Math.max(frame.size, minFrameSize), Math.max(minFrameSize, 2 * longest)),
    angle: frame.angle,
  };
}

export function moveFrame(frame: CropFrame, dx: number, dy: number, photo: Size): CropFrame {
  return clampFrame({ ...frame, centerX: frame.centerX + dx, centerY: frame.centerY + dy }, photo);
}

export function scaleFrame(frame: CropFrame, factor: number, photo: Size): CropFrame {
  return clampFrame({ ...frame, size: frame.size * factor }, photo);
}

/**
 * Resize about the centre so that the dragged corner follows the pointer
 * (photo coordinates): the pointer is taken into the square's own rotated axes.
 */
export function resizeFrameTo(frame: CropFrame, pointerX: number, pointerY: number, photo: Size): CropFrame {
  const dx = pointerX - frame.centerX;
  const dy = pointerY - frame.centerY;
  const cos = Math.cos(frame.angle);
  const sin = Math.sin(frame.angle);
  const localX = cos * dx + sin * dy;
  const localY = -sin * dx + cos * dy;
  return clampFrame({ ...frame, size: 2 * Math.max(Math.abs(localX), Math.abs(localY)) }, photo);
}

export function framesEqual(a: CropFrame, b: CropFrame): boolean {
  const close = (x: number, y: number) => Math.abs(x - y) < 1e-6;
  return close(a.centerX, b.centerX) && close(a.centerY, b.centerY) && close(a.size, b.size) && close(a.angle, b.angle);
}
