import { mixSeed, mulberry } from '../util/random.js';
import type { FaceDataset } from './dataset.js';

export interface Augmentation {
  /** mirror half of the images left-right */
  flip: boolean;
  /** add a uniform brightness offset in [-brightness, brightness] (images in [-1, 1]) */
  brightness: number;
}

export interface Batch {
  /** [n, size, size, 3] floats in [-1, 1] */
  images: Float32Array;
  labels: Float32Array;
  count: number;
}

/**
 * Deterministic batches: the order of epoch e is a shuffle seeded by (seed, e)
 * and augmentation by (seed, step), so a resumed run sees exactly the batches
 * the uninterrupted run would have seen.
 */
export class BatchSampler {
  private epochOrder: Uint32Array = new Uint32Array(0);
  private epochOfOrder = -1;

  constructor(
    private readonly data: FaceDataset,
    private readonly batchSize: number,
    private readonly seed: number,
    private readonly augmentation: Augmentation,
  ) {
    if (data.count === 0) throw new Error('no images to train on');
  }

  batch(step: number): Batch {
    const { size, count } = this.data;
    const pixels = size * size * 3;
    const images = new Float32Array(this.batchSize * pixels);
    const labels = new Float32Array(this.batchSize);
    const random = mulberry(mixSeed(this.seed, step, 0x5eed));
    for (let b = 0; b < this.batchSize; b++) {
      const position = step * this.batchSize + b;
      const index = this.orderOf(Math.floor(position / count))[position % count]!;
      labels[b] = this.data.labels[index]!;
      const flip = this.augmentation.flip && random() < 0.5;
      const shift = (random() * 2 - 1) * this.augmentation.brightness;
      this.copyImage(index, images.subarray(b * pixels, (b + 1) * pixels), flip, shift);
    }
    return { images, labels, count: this.batchSize };
  }

  private orderOf(epoch: number): Uint32Array {
    if (epoch !== this.epochOfOrder) {
      const order = new Uint32Array(this.data.count);
      for (let i = 0; i < order.length; i++) order[i] = i;
      const random = mulberry(mixSeed(this.seed, epoch, 0x0de5));
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      this.epochOrder = order;
      this.epochOfOrder = epoch;
    }
    return this.epochOrder;
  }

  private copyImage(index: number, target: Float32Array, flip: boolean, shift: number): void {
    const { size } = this.data;
    const source = this.data.images.subarray(index * size * size * 3, (index + 1) * size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const from = (y * size + (flip ? size - 1 - x : x)) * 3;
        const to = (y * size + x) * 3;
        for (let c = 0; c < 3; c++) {
          const value = source[from + c]! / 127.5 - 1 + shift;
          target[to + c] = value < -1 ? -1 : value > 1 ? 1 : value;
        }
      }
    }
  }
}
