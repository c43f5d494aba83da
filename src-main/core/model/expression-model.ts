import * as tf from '@tensorflow/tfjs';
import {
  CheckpointError,
  parseCheckpoint,
  readCheckpoint,
  writeCheckpoint,
  type Checkpoint,
  type CheckpointHeader,
} from './checkpoint.js';
import { isListedInManifest, readVerified } from './manifest.js';
import { ExpressionNetwork } from './network.js';
import type { ModelConfig } from './presets.js';

/**
 * A trained expression model for inference: load, predict, dispose. Images are
 * float tensors in [-1, 1], [n, size, size, 3]; a label is the expression value
 * (0 neutral, 1 smiling; values in between and slightly beyond set the intensity).
 */
export class ExpressionModel {
  /**
   * How far edits move the label from the face's own expression, as a multiple
   * of what is asked (1 for a trained model; a fine-tuned profile's is set so
   * that its edits are as strong as its base's, see calibratedEditScale).
   */
  editScale: number;

  private constructor(
    readonly network: ExpressionNetwork,
    readonly meta: Record<string, unknown> = {},
  ) {
    this.editScale = editScaleOf(meta);
  }

  get config(): ModelConfig {
    return this.network.config;
  }

  static create(config: ModelConfig, seed = 1): ExpressionModel {
    return new ExpressionModel(new ExpressionNetwork(config, seed));
  }

  /**
   * Loads a model or training checkpoint; `expected` refuses one of another
   * preset or size. A file listed in a `manifest.json` beside it (the shipped
   * models) is first checked against the manifest's size and SHA-256.
   */
  static async load(file: string, expected?: Partial<ModelConfig>): Promise<ExpressionModel> {
    const checkpoint = (await isListedInManifest(file))
      ? parseCheckpoint(file, await readVerified(file))
      : await readCheckpoint(file);
    return ExpressionModel.fromCheckpoint(file, checkpoint, expected);
  }

  static fromCheckpoint(file: string, checkpoint: Checkpoint, expected?: Partial<ModelConfig>): ExpressionModel {
    assertCompatible(file, checkpoint.header, expected);
    try {
      editScaleOf(checkpoint.header.meta);
    } catch (error) {
      throw new CheckpointError(file, (error as Error).message);
    }
    const network = new ExpressionNetwork(checkpoint.header.config);
    try {
      network.importWeights(checkpoint.tensors);
    } catch (error) {
      network.dispose();
      throw new CheckpointError(file, (error as Error).message);
    }
    return new ExpressionModel(network, checkpoint.header.meta);
  }

  /** Saves the weights alone (no optimiser state), e.g. the model a training run produced. */
  async save(file: string, meta: Record<string, unknown> = {}, half = false): Promise<void> {
    await writeCheckpoint(file, {
      kind: 'model',
      config: this.config,
      meta: this.editScale === 1 ? meta : { ...meta, editScale: this.editScale },
      tensors: this.network.exportWeights(),
      half,
    });
  }

  /** Decodes each image with its target label; returns images in [-1, 1]. */
  predict(images: tf.Tensor4D, labels: ArrayLike<number>): tf.Tensor4D {
    this.assertInput(images, labels);
    return tf.tidy(() => {
      const z = this.network.encode(images);
      return this.network.decode(z, tf.tensor1d(Array.from(labels)));
    });
  }

  /** Decodes each image with several labels at once (sharing one encoding): [labels][n, size, size, 3]. */
  predictMany(images: tf.Tensor4D, labelSets: ArrayLike<number>[]): tf.Tensor4D[] {
    for (const labels of labelSets) this.assertInput(images, labels);
    const z = tf.tidy(() => this.network.encode(images));
    try {
      return labelSets.map((labels) => tf.tidy(() => this.network.decode(z, tf.tensor1d(Array.from(labels)))));
    } finally {
      z.dispose();
    }
  }

  /** The latent discriminator's probability that each image shows the attribute. */
  attributeProbability(images: tf.Tensor4D): tf.Tensor1D {
    return tf.tidy(() => {
      const logits = this.network.discriminate(this.network.encode(images));
      return tf.squeeze(tf.slice(tf.softmax(logits), [0, 1], [-1, 1]), [1]) as tf.Tensor1D;
    });
  }

  parameterCounts(): { encoder: number; decoder: number; discriminator: number; autoencoder: number; total: number } {
    const encoder = this.network.countParameters('encoder');
    const decoder = this.network.countParameters('decoder');
    const discriminator = this.network.countParameters('discriminator');
    return {
      encoder,
      decoder,
      discriminator,
      autoencoder: encoder + decoder,
      total: encoder + decoder + discriminator,
    };
  }

  dispose(): void {
    this.network.dispose();
  }

  private assertInput(images: tf.Tensor4D, labels: ArrayLike<number>): void {
    const { size } = this.config;
    const [n, h, w, c] = images.shape;
    if (h !== size || w !== size || c !== 3) {
      throw new Error(`expected images of ${size}x${size}x3, got ${h}x${w}x${c}`);
    }
    if (labels.length !== n) throw new Error(`expected ${n} labels, got ${labels.length}`);
    for (let i = 0; i < labels.length; i++) {
      if (!Number.isFinite(labels[i])) throw new Error(`label ${i} is not a finite number`);
    }
  }
}

/** Edit scales a model may have; a file with another is damaged or foreign. */
export const editScaleRange = [0.25, 4] as const;

function editScaleOf(meta: Record<string, unknown>): number {
  const scale = meta['editScale'];
  if (scale === undefined) return 1;
  if (typeof scale !== 'number' || !(scale >= editScaleRange[0] && scale <= editScaleRange[1])) {
    throw new Error(`edit scale ${String(scale)} is outside ${editScaleRange.join('..')}`);
  }
  return scale;
}

export function assertCompatible(file: string, header: CheckpointHeader, expected?: Partial<ModelConfig>): void {
  if (!expected) return;
  const { preset, size, attribute } = header.config;
  if (expected.preset && expected.preset !== preset) {
    throw new CheckpointError(file, `is a ${preset} model, expected ${expected.preset}`);
  }
  if (expected.size && expected.size !== size) {
    throw new CheckpointError(file, `is a ${size} px model, expected ${expected.size} px`);
  }
  if (expected.attribute && expected.attribute !== attribute) {
    throw new CheckpointError(file, `edits "${attribute}", expected "${expected.attribute}"`);
  }
}
