import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src-main/core/backend/select-backend.js';
import {
  alignedFrame,
  celebaReference,
  cropToPhoto,
  extractCrop,
  keyPoints,
  type CropFrame,
  type Point,
} from '../../src-main/core/faces/alignment.js';
import { detectionSide, findPhotoFaces } from '../../src-main/core/editing/edit-photo.js';
import {
  defaultMinConfidence,
  detectFaces,
  fastDetector,
  judgeFace,
  judgeFrame,
  loadFaceApi,
  scaleFace,
} from '../../src-main/core/faces/detect-faces.js';
import { ImageError, readRgbImage } from '../../src-main/core/images/read-image.js';

const photos = path.resolve(process.cwd(), '../shared/data/photos');

beforeAll(async () => {
  await selectBackend('wasm');
});

/** A photo of a plain wall, with no face in it, written into `dir`. */
async function writePlainWall(dir: string): Promise<string> {
  const file = path.join(dir, 'wall.png');
  await sharp({ create: { width: 320, height: 240, channels: 3, background: '#8899aa' } })
    .png()
    .toFile(file);
  return file;
}

/** How far apart two frames' centres are, as a share of the second's size. */
function centreOffset(frame: CropFrame, reference: CropFrame): number {
  return Math.hypot(frame.centerX - reference.centerX, frame.centerY - reference.centerY) / reference.size;
}

describe('reading photos', () => {
  it('applies EXIF orientation and reports the upright size', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-img-'));
    const file = path.join(dir, 'rotated.jpg');
    await sharp({ create: { width: 40, height: 20, channels: 3, background: '#336699' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toFile(file);
    const image = await readRgbImage(file);
    expect([image.width, image.height, image.originalWidth, image.originalHeight]).toEqual([20, 40, 20, 40]);
    const scaled = await readRgbImage(path.join(photos, 'obama_and_biden.jpg'), { maxSide: 500 });
    expect(Math.max(scaled.width, scaled.height)).toBe(500);
    expect(scaled.originalWidth).toBe(2000);
  });

  it('reads 16-bit and greyscale photos as 8-bit RGB', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-img-'));
    const sixteen = path.join(dir, 'deep.png');
    const grey = path.join(dir, 'grey.jpg');
    await sharp(path.join(photos, 'obama.jpg')).toColourspace('rgb16').png().toFile(sixteen);
    await sharp(path.join(photos, 'obama.jpg')).greyscale().jpeg().toFile(grey);
    expect((await sharp(sixteen).metadata()).depth).toBe('ushort');
    for (const file of [sixteen, grey]) {
      const image = await readRgbImage(file);
      expect(image.data.length, file).toBe(image.width * image.height * 3);
      expect(await detectFaces(image), file).toHaveLength(1);
    }
  });

  it('flattens an RGBA PNG to RGB', async () => {
    const image = await readRgbImage(path.join(photos, '32bit.png'));
    expect(image.data.length).toBe(image.width * image.height * 3);
  });

  it('refuses bad files with a clear message naming them', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-img-'));
    const jpeg = await readFile(path.join(photos, 'obama.jpg'));
    const cases: [string, Uint8Array | string, RegExp][] = [
      ['empty.jpg', '', /empty file/],
      ['text.jpg', 'this is not a photo', /not an image/],
      ['truncated.jpg', jpeg.subarray(0, jpeg.length / 3), /truncated or corrupt/],
      ['huge.png', hugePngHeader(30000, 30000), /larger than 100 megapixels/],
    ];
    for (const [name, bytes, expected] of cases) {
      const file = path.join(dir, name);
      await writeFile(file, bytes);
      const error = await readRgbImage(file).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(ImageError);
      expect((error as Error).message, name).toMatch(new RegExp(`${name}: .*${expected.source}`));
    }
    await expect(readRgbImage(path.join(dir, 'missing.jpg'))).rejects.toThrow(/missing\.jpg: file not found/);
  });
});

describe('face detection', () => {
  it.each([
    ['obama.jpg', 1],
    ['two_people.jpg', 2],
    ['kit_with_rose.jpg', 2],
    ['32bit.png', 1],
    ['obama_partial_face.jpg', 1],
  ])('%s has %i face(s), each with 68 landmarks and an aligned frame', async (file, count) => {
    const faces = await detectFaces(await readRgbImage(path.join(photos, file)));
    expect(faces).toHaveLength(count);
    faces.forEach((face, i) => {
      expect(face.id).toBe(`face-${i + 1}`);
      expect(face.landmarks).toHaveLength(68);
      expect(face.score).toBeGreaterThan(defaultMinConfidence);
      expect(face.smile).toBeGreaterThanOrEqual(0);
      // The crop frame is about as large as the face and centred near it.
      expect(face.frame.size).toBeGreaterThan(face.box.width);
      expect(face.frame.size).toBeLessThan(face.box.width * 3);
      expect(Math.abs(face.frame.centerX - (face.box.x + face.box.width / 2))).toBeLessThan(face.box.width / 2);
    });
  });

  it('finds the small, partly hidden third face of obama_and_biden.jpg on the detection copy', async () => {
    const image = await readRgbImage(path.join(photos, 'obama_and_biden.jpg'), { maxSide: detectionSide });
    const faces = (await detectFaces(image)).map((f) => scaleFace(f, image.originalWidth / image.width));
    expect(faces).toHaveLength(3);
    const [hidden] = faces.filter((f) => f.box.width < 150);
    expect(hidden!.box.x).toBeGreaterThan(1500);
    expect(hidden!.box.y).toBeGreaterThan(900);
  });

  it('reads the smile of a smiling face', async () => {
    const [face] = await detectFaces(await readRgbImage(path.join(photos, 'obama.jpg')));
    expect(face!.smile).toBeGreaterThan(0.9);
  });

  it('judges a face on about the box the detector found, and reads its smile as face-api does', async () => {
    const image = await readRgbImage(path.join(photos, 'obama.jpg'));
    const [face] = await detectFaces(image);
    const judged = judgeFrame(face!.frame);
    const box = face!.box;
    const side = Math.sqrt(box.width * box.height);
    expect(Math.abs(judged.size - side) / side).toBeLessThan(0.25);
    expect(Math.abs(judged.centerX - (box.x + box.width / 2)) / side).toBeLessThan(0.15);
    expect(Math.abs(judged.centerY - (box.y + box.height / 2)) / side).toBeLessThan(0.15);
    const { smile } = await judgeFace(image, face!.frame);
    expect(Math.abs(smile - face!.smile)).toBeLessThan(0.1);
  });

  it('finds no face in a photo without one', async () => {
    const wall = await writePlainWall(await mkdtemp(path.join(os.tmpdir(), 'mien-img-')));
    expect(await detectFaces(await readRgbImage(wall))).toEqual([]);
  });

  it("runs face-api's SSD with fused layers, to the same boxes and scores as face-api's own pass", async () => {
    const faceapi = await loadFaceApi();
    // face-api declares its own copy of tfjs' types; the tensors are the same objects.
    type Pass = (input: unknown) => { boxes: tf.Tensor[]; scores: tf.Tensor[] };
    const net = faceapi.nets.ssdMobilenetv1 as unknown as { forwardInput: Pass };
    // Installed at load: the instance's pass is the fused one, the class's is face-api's.
    expect(Object.hasOwn(net, 'forwardInput')).toBe(true);
    const ownPass = (Object.getPrototypeOf(net) as { forwardInput: Pass }).forwardInput;
    for (const file of ['obama_and_biden.jpg', 'kit_with_rose.jpg']) {
      const image = await readRgbImage(path.join(photos, file), { maxSide: detectionSide });
      const pixels = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
      const input = await faceapi.toNetInput(pixels as unknown as Parameters<typeof faceapi.toNetInput>[0]);
      const [theirs, ours] = [ownPass.call(net, input), net.forwardInput(input)];
      const largest = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
      expect(largest(theirs.boxes[0]!, ours.boxes[0]!)).toBeLessThan(1e-4);
      expect(largest(theirs.scores[0]!, ours.scores[0]!)).toBeLessThan(1e-4);
      // The comparison means something: some anchor holds a face.
      expect(tf.max(ours.scores[0]!).dataSync()[0]).toBeGreaterThan(0.9);
      tf.dispose([pixels, ...theirs.boxes, ...theirs.scores, ...ours.boxes, ...ours.scores]);
    }
    // A detection leaves no tensor behind.
    const image = await readRgbImage(path.join(photos, 'two_people.jpg'), { maxSide: detectionSide });
    await detectFaces(image);
    const before = tf.memory().numTensors;
    await detectFaces(image);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the fast face detector', () => {
  it('finds the one face of obama.jpg with about the frame the accurate detector finds', async () => {
    const image = await readRgbImage(path.join(photos, 'obama.jpg'));
    const [accurate] = await detectFaces(image);
    const fast = await detectFaces(image, { detector: 'fast' });
    expect(fast).toHaveLength(1);
    const face = fast[0]!;
    expect(face.id).toBe('face-1');
    expect(face.landmarks).toHaveLength(68);
    expect(face.score).toBeGreaterThanOrEqual(fastDetector.scoreThreshold);
    expect(face.smile).toBeGreaterThan(0.9);
    const { frame } = accurate!;
    expect(centreOffset(face.frame, frame)).toBeLessThan(0.02);
    expect(Math.abs(face.frame.size / frame.size - 1)).toBeLessThan(0.03);
    expect(Math.abs(face.frame.angle - frame.angle)).toBeLessThan(0.03);
  });

  it('finds both faces of two-person photos with about the accurate frames, in full-resolution pixels', async () => {
    for (const [file, count] of [
      ['two_people.jpg', 2],
      ['kit_with_rose.jpg', 2],
    ] as const) {
      const accurate = (await findPhotoFaces(path.join(photos, file))).faces;
      const fast = (await findPhotoFaces(path.join(photos, file), { detector: 'fast' })).faces;
      expect(fast, file).toHaveLength(count);
      fast.forEach((face, i) => {
        expect(centreOffset(face.frame, accurate[i]!.frame), `${file} ${face.id}`).toBeLessThan(0.02);
      });
    }
  });

  it('finds no face in a photo without one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mien-img-'));
    const wall = await writePlainWall(dir);
    // The lower half of a real photo: clothes, hands, a bag and a printed wall (a larger
    // input size found a face in the buttons of the waistcoat).
    const clothes = path.join(dir, 'clothes.png');
    await sharp(path.join(photos, 'kit_with_rose.jpg'))
      .extract({ left: 0, top: 320, width: 501, height: 380 })
      .png()
      .toFile(clothes);
    for (const file of [wall, clothes]) {
      expect(await detectFaces(await readRgbImage(file), { detector: 'fast' }), file).toEqual([]);
    }
  });
});

describe('alignment', () => {
  it('recovers a known similarity from landmarks placed by it', () => {
    const truth = { centerX: 300, centerY: 200, size: 180, angle: 0.3 };
    const place = (p: Point) => cropToPhoto(truth, p.x, p.y);
    const landmarks = syntheticLandmarks(place);
    const frame = alignedFrame(landmarks);
    expect(frame.centerX).toBeCloseTo(truth.centerX, 6);
    expect(frame.centerY).toBeCloseTo(truth.centerY, 6);
    expect(frame.size).toBeCloseTo(truth.size, 6);
    expect(frame.angle).toBeCloseTo(truth.angle, 6);
  });

  it('puts the detected eyes where the training crops have them', async () => {
    const [face] = await detectFaces(await readRgbImage(path.join(photos, 'obama.jpg')));
    const eyes = keyPoints(face!.landmarks);
    const leftEye = cropToPhoto(face!.frame, celebaReference.leftEye.x, celebaReference.leftEye.y);
    expect(Math.hypot(leftEye.x - eyes.leftEye.x, leftEye.y - eyes.leftEye.y)).toBeLessThan(face!.frame.size * 0.03);
  });

  it('renders the crop from the photo (an unrotated frame copies pixels)', () => {
    const width = 8;
    const data = new Uint8Array(width * width * 3).map((_, i) => i % 251);
    const image = { data, width, height: width, originalWidth: width, originalHeight: width };
    const crop = extractCrop(image, { centerX: 4, centerY: 4, size: 8, angle: 0 }, 8);
    expect(Array.from(crop)).toEqual(Array.from(data));
  });
});

/** 68 points whose eye and mouth groups average to the reference points mapped by `place`. */
function syntheticLandmarks(place: (p: Point) => Point): Point[] {
  const landmarks: Point[] = Array.from({ length: 68 }, () => place({ x: 0.5, y: 0.2 }));
  for (let i = 36; i < 42; i++) landmarks[i] = place(celebaReference.leftEye);
  for (let i = 42; i < 48; i++) landmarks[i] = place(celebaReference.rightEye);
  for (let i = 48; i < 68; i++) landmarks[i] = place(celebaReference.mouth);
  return landmarks;
}

/** A PNG that declares width x height but holds almost no data: decoding it would need gigabytes. */
function hugePngHeader(width: number, height: number): Uint8Array {
  const chunk = (type: string, body: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'ascii'), body])));
    return Buffer.concat([length, Buffer.from(type, 'ascii'), body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([
    signature,
    chunk('IHDR', header),
    chunk('IDAT', Buffer.from([120, 156, 3, 0, 0, 0, 0, 1])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
