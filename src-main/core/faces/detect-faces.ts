import * as tf from '@tensorflow/tfjs';
import type * as FaceApiModule from '@vladmandic/face-api';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { RgbImage } from '../images/read-image.js';
import { alignedFrame, cropToPhoto, extractCrop, type CropFrame, type Point } from './alignment.js';
import { FusedSsd } from './fused-ssd.js';

type FaceApi = typeof FaceApiModule;

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DetectedFace {
  /** stable within a photo: faces are numbered left to right */
  id: string;
  /** detector confidence, 0..1 */
  score: number;
  box: FaceBox;
  landmarks: Point[];
  /** the expression classifier's probabilities (neutral, happy, sad, ...) */
  expressions: Record<string, number>;
  /** the classifier's reading of the smile, 0..1 (its "happy" probability) */
  smile: number;
  /** the aligned crop the model edits */
  frame: CropFrame;
  /** 128-d identity descriptor (when asked for) */
  descriptor?: number[];
}

/**
 * Which network finds the faces (landmarks, expressions and the aligned frame
 * come after it, the same for both):
 * - 'accurate' (the default): face-api's SSD MobileNet v1, which also finds
 *   small and partly hidden faces; its network takes about 290 ms of CPU per
 *   photo on the WebAssembly backend (its input is always 512x512), with its
 *   layers fused (fused-ssd.ts), where face-api's own pass takes about 355.
 * - 'fast': face-api's TinyFaceDetector, about 125 ms; it can miss
 *   small or partly hidden faces, e.g. one cut by the photo's edge (see
 *   `fastDetector`). For big batches. Its boxes are squarer and larger than
 *   SSD's, and face-api reads expressions on the detector's box, so a smile
 *   can read a little differently (up to 0.14 apart on the sample photos).
 */
export type FaceDetectorKind = 'accurate' | 'fast';
export const faceDetectorKinds: readonly FaceDetectorKind[] = ['accurate', 'fast'];

export interface DetectOptions {
  /** drop detections below this confidence (default: `defaultMinConfidence`, or `fastDetector.scoreThreshold` with 'fast') */
  minConfidence?: number;
  /** compute identity descriptors too */
  descriptors?: boolean;
  /** the network that finds the faces; default 'accurate' */
  detector?: FaceDetectorKind;
}

/**
 * Detections below this score are dropped. 0.3 finds small and partly hidden
 * faces (e.g. a face behind a shoulder scores about 0.31) without false ones
 * on the sample photos; a face the user does not want edited can stay as it is.
 */
export const defaultMinConfidence = 0.3;

/**
 * The 'fast' detector's settings, chosen on the sample photos (1-3 faces each,
 * on the detection copy `findPhotoFaces` makes, and on their mirrored,
 * greyscale, 600-pixel and letterboxed versions: 40 pictures, 60 faces).
 * At inputSize 416 a false face between two heads scores up to 0.40 while a
 * large, clear face can score 0.45, and the small, partly hidden third face of
 * obama_and_biden.jpg only 0.22-0.27; at 608 a false face below the two of
 * kit_with_rose.jpg scores 0.43-0.47 and the hidden face comes out twice with
 * frames half its size. At 512 no false face scores above 0.33 and every whole
 * face at least 0.48 (the hidden one 0.57-0.65 in colour), so 0.4 sits between
 * them: 56 of the 60 faces and no false one. It misses the face cut by the
 * image edge in obama_partial_face.jpg (0.34 or less) and the hidden face in
 * greyscale (0.38); no false faces matter more than every last face. Where it
 * finds a face, the aligned frame's centre is within about 1% of the frame's
 * size of SSD's and its size within 3%. It took about 210 ms per photo where
 * SSD, before its layers were fused, took 620 (WebAssembly backend, one thread
 * on a busy two-core machine).
 */
export const fastDetector = { inputSize: 512, scoreThreshold: 0.4 } as const;

let loaded: Promise<FaceApi> | undefined;
const laterLoads = new Map<LaterNetwork, Promise<FaceApi>>();

/**
 * face-api's networks, loaded once from the files inside its npm package (never
 * from a network). Its WebAssembly build uses the tfjs instance, and so the
 * backend, that the rest of the core selected. The networks every photo needs
 * load here; the others (see loadFaceApiWith) when first asked for, so that
 * each batch thread, which needs neither, holds less memory.
 */
export function loadFaceApi(): Promise<FaceApi> {
  loaded ??= (async () => {
    const require = createRequire(import.meta.url);
    const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
    const modelDir = faceApiModelDir();
    await Promise.all([
      faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir),
      faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir),
      faceapi.nets.faceExpressionNet.loadFromDisk(modelDir),
    ]);
    // The same detector with its layers fused: about a fifth of its time saved on every photo.
    FusedSsd.install(faceapi.nets.ssdMobilenetv1 as unknown as Parameters<typeof FusedSsd.install>[0]);
    return faceapi;
  })();
  return loaded;
}

/** Networks loaded only when first asked for: the fast detector, and the identity network (descriptors). */
type LaterNetwork = 'tinyFaceDetector' | 'faceRecognitionNet';

/** face-api with one more of its networks loaded, from the same package folder. */
function loadFaceApiWith(network: LaterNetwork): Promise<FaceApi> {
  let pending = laterLoads.get(network);
  if (!pending) {
    pending = (async () => {
      const faceapi = await loadFaceApi();
      if (!faceapi.nets[network].isLoaded) await faceapi.nets[network].loadFromDisk(faceApiModelDir());
      return faceapi;
    })();
    laterLoads.set(network, pending);
    // A failed load is tried again next time rather than kept.
    pending.catch(() => laterLoads.delete(network));
  }
  return pending;
}

function faceApiModelDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
}

/** Finds every face in a photo with its landmarks, expression and aligned crop frame. */
export async function detectFaces(image: RgbImage, options: DetectOptions = {}): Promise<DetectedFace[]> {
  const fast = options.detector === 'fast';
  const faceapi = await (fast ? loadFaceApiWith('tinyFaceDetector') : loadFaceApi());
  if (options.descriptors) await loadFaceApiWith('faceRecognitionNet');
  const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
  try {
    const detector = fast
      ? new faceapi.TinyFaceDetectorOptions({
          inputSize: fastDetector.inputSize,
          scoreThreshold: options.minConfidence ?? fastDetector.scoreThreshold,
        })
      : new faceapi.SsdMobilenetv1Options({ minConfidence: options.minConfidence ?? defaultMinConfidence });
    const task = faceapi
      .detectAllFaces(input as never, detector)
      .withFaceLandmarks()
      .withFaceExpressions();
    const found = options.descriptors ? await task.withFaceDescriptors() : await task;
    const faces = found.map((f) => {
      const landmarks = f.landmarks.positions.map((p) => ({ x: p.x, y: p.y }));
      const { x, y, width, height } = f.detection.box;
      const expressions = { ...(f.expressions as unknown as Record<string, number>) };
      const descriptor = 'descriptor' in f ? Array.from(f.descriptor as Float32Array) : undefined;
      return {
        id: '',
        score: f.detection.score,
        box: { x, y, width, height },
        landmarks,
        expressions,
        smile: expressions['happy'] ?? 0,
        frame: alignedFrame(landmarks),
        ...(descriptor ? { descriptor } : {}),
      };
    });
    faces.sort((a, b) => a.box.x - b.box.x);
    return faces.map((face, i) => ({ ...face, id: `face-${i + 1}` }));
  } finally {
    input.dispose();
  }
}

/** Maps a face found on a scaled-down copy back to the photo's own pixels. */
export function scaleFace(face: DetectedFace, factor: number): DetectedFace {
  const point = (p: Point): Point => ({ x: p.x * factor, y: p.y * factor });
  return {
    ...face,
    box: {
      x: face.box.x * factor,
      y: face.box.y * factor,
      width: face.box.width * factor,
      height: face.box.height * factor,
    },
    landmarks: face.landmarks.map(point),
    frame: {
      ...face.frame,
      centerX: face.frame.centerX * factor,
      centerY: face.frame.centerY * factor,
      size: face.frame.size * factor,
    },
  };
}

/** What the expression classifier and the identity network make of a face. */
export interface FaceJudgement {
  /** the classifier's "happy" probability */
  smile: number;
  /** 128-d identity descriptor; faces of one person are under about 0.45 apart */
  descriptor: Float32Array;
}

/** Side at which a face is shown to the judging networks (they resize to their own inputs). */
const judgeSide = 160;

/**
 * face-api's own pipeline hands its expression and identity networks the
 * detector's box, which on aligned faces is about 0.57 of the aligned frame's
 * side and centred 0.085 of the side below its centre (median over CelebA test
 * faces). Shown the looser aligned frame, the expression network read only 54%
 * of real smiles as smiling; shown this box, 93-95%.
 */
const detectorBox = { scale: 0.57, drop: 0.085 } as const;

/** The square the judging networks see for a face: its detector-like box, turned with the face. */
export function judgeFrame(frame: CropFrame): CropFrame {
  const centre = cropToPhoto(frame, 0.5, 0.5 + detectorBox.drop);
  return { centerX: centre.x, centerY: centre.y, size: frame.size * detectorBox.scale, angle: frame.angle };
}

/**
 * Runs the expression classifier and the identity network on an aligned face
 * crop directly, without the detector: it works on crops of any framing and
 * size, and judges an original and its edit on exactly the same pixels.
 */
export async function judgeFace(image: RgbImage, frame: CropFrame): Promise<FaceJudgement> {
  const faceapi = await loadFaceApiWith('faceRecognitionNet');
  const crop = extractCrop(image, judgeFrame(frame), judgeSide);
  const input = tf.tensor3d(crop, [judgeSide, judgeSide, 3], 'int32');
  try {
    const expressions = (await faceapi.nets.faceExpressionNet.predictExpressions(input as never)) as unknown as Record<
      string,
      number
    >;
    const descriptor = (await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(input as never)) as Float32Array;
    return { smile: expressions['happy'] ?? 0, descriptor };
  } finally {
    input.dispose();
  }
}

export function descriptorDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum);
}
