/**
 * Step one of a fine-tune: the user's photos become aligned, labelled face
 * crops. Each face is found, aligned the way the training crops are, and
 * labelled by the expression classifier; the user may correct labels later.
 */
import { listPhotos as listFolderPhotos } from '../editing/batch.js';
import { detectionSide } from '../editing/edit-photo.js';
import { extractCrop, type CropFrame } from '../faces/alignment.js';
import { detectFaces, scaleFace, type DetectedFace } from '../faces/detect-faces.js';
import { readRgbImage, type RgbImage } from '../images/read-image.js';
import { FinetuneError } from './storage.js';

/** Which photos to look in: a folder (optionally with its subfolders) or a list of files. */
export type PhotoSelection = { folder: string; recursive?: boolean } | { files: string[] };

/** Keep only the faces of one person: those within `maxDistance` of a face descriptor. */
export interface PersonFilter {
  descriptor: ArrayLike<number>;
  /** descriptor distance under which two faces are the same person (default 0.5) */
  maxDistance?: number;
}

export interface CollectOptions {
  person?: PersonFilter;
  /** side of the stored crops; larger than the model so the judging networks see detail (default 160) */
  cropSize?: number;
  /** detector confidence below which a face is ignored (default: the editor's) */
  minConfidence?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, file: string) => void;
}

export interface CollectedFace {
  /** the photo it comes from */
  photo: string;
  /** the face's id within its photo (face-1, face-2, ... left to right) */
  faceId: string;
  /** where the aligned crop lies in the photo, in the photo's own pixels */
  frame: CropFrame;
  /** the aligned crop, RGB, cropSize x cropSize */
  crop: Uint8Array;
  cropSize: number;
  /** the expression classifier's smile probability */
  smile: number;
  /** the label the model trains with: 1 smiling, 0 not (from the classifier until the user corrects it) */
  label: 0 | 1;
  /** 128-d identity descriptor */
  descriptor: number[];
  /** distance to the person asked for, when one was */
  personDistance?: number;
}

export interface FaceWarning {
  code: 'no-faces' | 'too-few-faces' | 'one-expression' | 'few-of-one-expression';
  message: string;
}

export interface FaceCollection {
  faces: CollectedFace[];
  /** photos looked at */
  photos: number;
  /** photos that gave no face, with the reason */
  skipped: { file: string; reason: string }[];
  warnings: FaceWarning[];
}

export const defaultCropSize = 160;
/** the classifier reads a face as smiling from this probability on */
export const smileThreshold = 0.5;
/** face-api's usual same-person distance is 0.6; 0.5 keeps look-alikes out of a person's fine-tune */
export const samePersonDistance = 0.5;
/** fewer training faces than this rarely teach the model a face */
export const recommendedFaces = 12;

/** Finds, aligns and labels every face (or every face of one person) in the selected photos. */
export async function collectFaces(selection: PhotoSelection, options: CollectOptions = {}): Promise<FaceCollection> {
  const files =
    'folder' in selection ? await listPhotos(selection.folder, selection.recursive ?? false) : selection.files;
  const faces: CollectedFace[] = [];
  const skipped: FaceCollection['skipped'] = [];
  for (const [i, file] of files.entries()) {
    options.signal?.throwIfAborted();
    try {
      const found = await facesOfPhoto(file, options);
      if (found.length === 0)
        skipped.push({ file, reason: options.person ? 'no face of this person' : 'no face found' });
      faces.push(...found);
    } catch (error) {
      skipped.push({ file, reason: error instanceof Error ? error.message : String(error) });
    }
    options.onProgress?.(i + 1, files.length, file);
  }
  return { faces, photos: files.length, skipped, warnings: labelWarnings(faces.map((f) => f.label)) };
}

/** The photos of a folder (the batch's own listing), with a missing folder named as such. */
export async function listPhotos(folder: string, recursive = false): Promise<string[]> {
  return listFolderPhotos(folder, recursive).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FinetuneError(
      `${folder}: ${code === 'ENOENT' ? 'folder not found' : code === 'ENOTDIR' ? 'not a folder' : String(error)}`,
    );
  });
}

/** The identity descriptor of one face of a photo (by id, else the largest), to find that person elsewhere. */
export async function personDescriptor(photo: string, faceId?: string): Promise<number[]> {
  const preview = await readRgbImage(photo, { maxSide: detectionSide });
  const faces = await detectFaces(preview, { descriptors: true });
  const face = faceId
    ? faces.find((f) => f.id === faceId)
    : faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height)[0];
  if (!face?.descriptor) throw new Error(`${photo}: ${faceId ? `no ${faceId}` : 'no face found'} in this photo`);
  return face.descriptor;
}

/**
 * What a set of labels is likely to teach: nothing (no faces), too little (few
 * faces), or only one expression, in which case the model cannot learn how this
 * person looks with the other one.
 */
export function labelWarnings(labels: number[]): FaceWarning[] {
  const smiling = labels.filter((l) => l >= smileThreshold).length;
  const neutral = labels.length - smiling;
  if (labels.length === 0) return [{ code: 'no-faces', message: 'no faces found in these photos' }];
  const warnings: FaceWarning[] = [];
  if (labels.length < recommendedFaces) {
    warnings.push({
      code: 'too-few-faces',
      message: `only ${labels.length} face${labels.length === 1 ? '' : 's'}: fine-tuning needs ${recommendedFaces} or more (about 30 is good)`,
    });
  }
  if (smiling === 0 || neutral === 0) {
    warnings.push({
      code: 'one-expression',
      message: `every face is ${smiling === 0 ? 'not smiling' : 'smiling'}: add photos with the other expression, or correct labels the classifier got wrong`,
    });
  } else if (Math.min(smiling, neutral) < 3 && warnings.length === 0) {
    warnings.push({
      code: 'few-of-one-expression',
      message: `only ${Math.min(smiling, neutral)} ${smiling < neutral ? 'smiling' : 'neutral'} face${Math.min(smiling, neutral) === 1 ? '' : 's'}: the model learns little about this person's other expression`,
    });
  }
  return warnings;
}

/** The aligned, labelled faces of one photo (the person's only, when a person is asked for). */
async function facesOfPhoto(file: string, options: CollectOptions): Promise<CollectedFace[]> {
  const cropSize = options.cropSize ?? defaultCropSize;
  const preview = await readRgbImage(file, { maxSide: detectionSide });
  const factor = preview.originalWidth / preview.width;
  const detect = {
    descriptors: true,
    ...(options.minConfidence === undefined ? {} : { minConfidence: options.minConfidence }),
  };
  let faces = await detectFaces(preview, detect);
  if (options.person) faces = closestOf(faces, options.person);
  if (faces.length === 0) return [];
  // The scaled-down copy is sharp enough unless a face is smaller on it than the crop.
  const needsFull = factor > 1 && faces.some((f) => f.frame.size < cropSize);
  const source: { image: RgbImage; scale: number } = needsFull
    ? { image: await readRgbImage(file), scale: factor }
    : { image: preview, scale: 1 };
  return faces.map((face) => {
    const inSource = source.scale === 1 ? face : scaleFace(face, source.scale);
    const label: 0 | 1 = face.smile >= smileThreshold ? 1 : 0;
    return {
      photo: file,
      faceId: face.id,
      frame: scaleFace(face, factor).frame,
      crop: extractCrop(source.image, inSource.frame, cropSize),
      cropSize,
      smile: face.smile,
      label,
      descriptor: face.descriptor ?? [],
      ...(options.person ? { personDistance: distanceTo(face, options.person) } : {}),
    };
  });
}

/** The one face of a photo closest to the person, if it is close enough (a person appears once per photo). */
function closestOf(faces: DetectedFace[], person: PersonFilter): DetectedFace[] {
  const limit = person.maxDistance ?? samePersonDistance;
  const ranked = faces
    .map((face) => ({ face, distance: distanceTo(face, person) }))
    .filter((r) => r.distance < limit)
    .sort((a, b) => a.distance - b.distance);
  return ranked.length > 0 ? [ranked[0]!.face] : [];
}

function distanceTo(face: DetectedFace, person: PersonFilter): number {
  const d = face.descriptor;
  if (!d || d.length !== person.descriptor.length) return Infinity;
  let sum = 0;
  for (let i = 0; i < d.length; i++) sum += (d[i]! - person.descriptor[i]!) ** 2;
  return Math.sqrt(sum);
}
