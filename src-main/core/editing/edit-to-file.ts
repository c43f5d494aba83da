import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { FaceDetectorKind } from '../faces/detect-faces.js';
import type { ExpressionModel } from '../model/expression-model.js';
import { editPhoto, writeEditedPhoto } from './edit-photo.js';

/** How a batch edits each photo (also sent to its worker threads with every photo). */
export interface EditSettings {
  /** expression for every face */
  target: number;
  quality: number;
  keepMetadata: boolean;
  /** the face detector: 'accurate' (default) or 'fast' */
  detector?: FaceDetectorKind;
}

/** Edits every face of a photo into a new file; returns the faces edited (0: none found, nothing written). */
export async function editToFile(
  model: ExpressionModel,
  input: string,
  output: string,
  settings: EditSettings,
): Promise<number> {
  const result = await editPhoto(input, model, {
    target: settings.target,
    ...(settings.detector ? { detector: settings.detector } : {}),
  });
  if (result.faces.length === 0) return 0;
  await mkdir(path.dirname(output), { recursive: true });
  await writeEditedPhoto(input, output, result, { quality: settings.quality, keepMetadata: settings.keepMetadata });
  return result.faces.length;
}
