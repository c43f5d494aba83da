import * as tf from '@tensorflow/tfjs';
import { mulberry } from '../util/random.js';
import { architectureOf, type Architecture, type ModelConfig } from './presets.js';
import {
  batchNorm,
  conv2x,
  conv2xLeakyFused,
  conv2xWindows,
  convTranspose2x,
  dense,
  labelPlanes,
  leakyRelu,
  splitLabelChannel,
  splitPhases,
  upsampleConv,
  upsampleConvFilter,
  upsampleConvTaps,
  upsampleConvTapWeights,
  type BatchNormState,
} from './layers.js';

/** A filter derived from the weights for a faster form of a layer: one tensor, or several by name. */
type DerivedFilter = tf.Tensor | Record<string, tf.Tensor | tf.Tensor[]>;

/** A fused upsample-conv stage's filters, bias and label share per unit label (`upsampleConv`). */
interface PhaseFilters extends Record<string, tf.Tensor | tf.Tensor[]> {
  filters: tf.Tensor4D[];
  bias: tf.Tensor1D;
  labelMap: tf.Tensor4D;
}

/** Which part of the network a variable belongs to; each part has its own optimiser. */
export type Part = 'encoder' | 'decoder' | 'discriminator';

export interface NamedVariable {
  name: string;
  part: Part;
  variable: tf.Variable;
}

const discriminatorHidden = 512;
const labelClasses = 2;
let instances = 0;
/**
 * Decoder maps up to this side run upsample + conv in the per-tap form
 * (`upsampleConvTaps`), larger ones in the fused 3x3 form. Measured on two
 * cores, batch 32, forward and backward: on the 2x2 latent 67 ms against 176
 * for the plain composition, on 4x4 65 against 117 for the fused form, on 8x8
 * 118 against 103. At inference, with both filters built once, the per-tap
 * form wins on 2x2 only (0.63 against 0.95 ms for one face).
 */
const tapFormMaxSide = { training: 4, inference: 2 };
/**
 * Encoder inputs up to this side run their convolution in the window form
 * (`conv2xWindows`): the last layer (4x4 -> 2x2). In a training step at batch
 * 32 on two cores it saves 50 ms of 770; on 8x8 it costs 40 ms more. At
 * inference the filter is prepared once, and the convolution is faster.
 */
const windowFormMaxSide = { training: 4, inference: 0 };
/** Output channels from which a fused upsample-conv stage convolves each phase on its own (`upsampleConv`). */
const phaseSplitMinChannels = 16;

/**
 * The weights of one model and its three functions: encode x to z, decode z
 * with a label back to an image, and read the label from z. Variable names are
 * stable; checkpoints store them by name.
 */
export class ExpressionNetwork {
  readonly architecture: Architecture;
  private readonly variables = new Map<string, NamedVariable>();
  private random: () => number;
  /** Derived decoder filters for inference, rebuilt after weights change. */
  private derivedFilterCache = new Map<string, DerivedFilter>();
  private readonly instance = ++instances;

  constructor(
    readonly config: ModelConfig,
    seed = 1,
  ) {
    this.architecture = architectureOf(config);
    this.random = mulberry(seed);
    this.build();
  }

  // ---- parameters ---------------------------------------------------------------

  private build(): void {
    const arch = this.architecture;
    let channels = 3;
    arch.encoderChannels.forEach((out, i) => {
      this.conv(`encoder.${i}`, 'encoder', [4, 4, channels, out]);
      if (arch.batchNorm && i > 0) this.norm(`encoder.${i}.bn`, 'encoder', out);
      channels = out;
    });
    arch.decoderChannels.forEach((out, i) => {
      const input = channels + arch.labelPlanes;
      const last = i === arch.decoderChannels.length - 1;
      // tfjs' transposed convolutions take their filter as [k, k, out, in].
      const shape: [number, number, number, number] = arch.batchNorm ? [4, 4, out, input] : [4, 4, input, out];
      this.conv(`decoder.${i}`, 'decoder', shape, 16 * input);
      if (arch.batchNorm && !last) this.norm(`decoder.${i}.bn`, 'decoder', out);
      channels = out;
    });
    let features = arch.latentSide * arch.latentSide * arch.latentChannels;
    if (arch.batchNorm) {
      // Fader's discriminator: stride-2 convolutions from the latent down to 1x1, then two dense layers.
      let side = arch.latentSide;
      let inChannels = arch.latentChannels;
      for (let i = 0; side > 1; i++, side /= 2) {
        this.conv(`discriminator.conv${i}`, 'discriminator', [4, 4, inChannels, 512]);
        this.norm(`discriminator.conv${i}.bn`, 'discriminator', 512);
        inChannels = 512;
      }
      features = inChannels;
      this.dense('discriminator.dense0', features, discriminatorHidden);
      this.dense('discriminator.dense1', discriminatorHidden, labelClasses);
    } else {
      this.dense('discriminator.dense0', features, discriminatorHidden);
      this.dense('discriminator.dense1', discriminatorHidden, discriminatorHidden);
      this.dense('discriminator.dense2', discriminatorHidden, labelClasses);
    }
  }

  private add(name: string, part: Part, value: tf.Tensor, trainable = true): void {
    // tfjs names variables process-wide; the instance prefix lets several models coexist.
    const variable = tf.variable(value, trainable, `net${this.instance}/${name}`);
    value.dispose();
    this.variables.set(name, { name, part, variable });
  }

  /** PyTorch's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as in Fader's code. */
  private uniform(shape: number[], fanIn: number): tf.Tensor {
    const bound = 1 / Math.sqrt(fanIn);
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = (this.random() * 2 - 1) * bound;
    return tf.tensor(values, shape);
  }

  private conv(name: string, part: Part, shape: [number, number, number, number], fanIn?: number): void {
    const fan = fanIn ?? shape[0] * shape[1] * shape[2];
    const outChannels = this.architecture.batchNorm && part === 'decoder' ? shape[2] : shape[3];
    this.add(`${name}.filter`, part, this.uniform(shape, fan));
    this.add(`${name}.bias`, part, this.uniform([outChannels], fan));
  }

  private dense(name: string, inputs: number, outputs: number): void {
    this.add(`${name}.weights`, 'discriminator', this.uniform([inputs, outputs], inputs));
    this.add(`${name}.bias`, 'discriminator', this.uniform([outputs], inputs));
  }

  private norm(name: string, part: Part, channels: number): void {
    this.add(`${name}.gamma`, part, tf.ones([channels]));
    this.add(`${name}.beta`, part, tf.zeros([channels]));
    this.add(`${name}.movingMean`, part, tf.zeros([channels]), false);
    this.add(`${name}.movingVariance`, part, tf.ones([channels]), false);
  }

  private get(name: string): tf.Variable {
    const found = this.variables.get(name);
    if (!found) throw new Error(`Missing weight ${name}`);
    return found.variable;
  }

  private normState(name: string): BatchNormState {
    return {
      gamma: this.get(`${name}.gamma`),
      beta: this.get(`${name}.beta`),
      movingMean: this.get(`${name}.movingMean`),
      movingVariance: this.get(`${name}.movingVariance`),
    };
  }

  /** All variables, in a stable order. */
  list(): NamedVariable[] {
    return [...this.variables.values()];
  }

  trainableOf(part: Part | Part[]): tf.Variable[] {
    const parts = Array.isArray(part) ? part : [part];
    return this.list()
      .filter((v) => parts.includes(v.part) && v.variable.trainable)
      .map((v) => v.variable);
  }

  countParameters(part?: Part): number {
    return this.list()
      .filter((v) => v.variable.trainable && (part === undefined || v.part === part))
      .reduce((sum, v) => sum + v.variable.size, 0);
  }

  /** Copies of all weights (trainable or not), by stable name. */
  exportWeights(): { name: string; shape: number[]; values: Float32Array }[] {
    return this.list().map((v) => ({
      name: v.name,
      shape: v.variable.shape,
      values: v.variable.dataSync() as Float32Array,
    }));
  }

  /**
   * Replaces every weight. All names and shapes must match this architecture;
   * otherwise nothing is changed and the error says what differs.
   */
  importWeights(weights: Map<string, { shape: number[]; values: Float32Array }>): void {
    for (const v of this.list()) {
      const w = weights.get(v.name);
      if (!w) throw new Error(`weight ${v.name} is missing`);
      if (w.shape.join('x') !== v.variable.shape.join('x')) {
        throw new Error(`weight ${v.name} has shape ${w.shape.join('x')}, expected ${v.variable.shape.join('x')}`);
      }
    }
    for (const v of this.list()) {
      const w = weights.get(v.name)!;
      tf.tidy(() => v.variable.assign(tf.tensor(w.values, w.shape)));
    }
    this.weightsChanged();
  }

  /** Call after the weights change (a training step, a load) so cached inference filters are rebuilt. */
  weightsChanged(): void {
    tf.dispose([...this.derivedFilterCache.values()]);
    this.derivedFilterCache.clear();
  }

  // ---- forward passes -----------------------------------------------------------

  /** x in [-1, 1], [n, size, size, 3] -> z */
  encode(x: tf.Tensor4D, training = false): tf.Tensor4D {
    const arch = this.architecture;
    let h = x;
    arch.encoderChannels.forEach((_, i) => {
      const filter = this.get(`encoder.${i}.filter`) as tf.Tensor4D;
      const bias = this.get(`encoder.${i}.bias`) as tf.Tensor1D;
      if (!training && !arch.batchNorm) {
        h = conv2xLeakyFused(h, filter, bias);
        return;
      }
      const windowForm = Math.max(h.shape[1], h.shape[2]) <= windowFormMaxSide[training ? 'training' : 'inference'];
      h = windowForm ? conv2xWindows(h, filter, bias) : conv2x(h, filter, bias);
      if (arch.batchNorm && i > 0) h = batchNorm(h, this.normState(`encoder.${i}.bn`), training);
      h = leakyRelu(h);
    });
    return h;
  }

  /** z and one label value per image (any real number) -> image in [-1, 1] */
  decode(z: tf.Tensor4D, labels: tf.Tensor1D, training = false): tf.Tensor4D {
    const arch = this.architecture;
    const stages = arch.decoderChannels.length;
    let h = z;
    for (let i = 0; i < stages; i++) {
      const activation = i < stages - 1 ? 'relu' : 'tanh';
      const [, height, width] = h.shape;
      const tapForm = Math.max(height, width) <= tapFormMaxSide[training ? 'training' : 'inference'];
      if (arch.batchNorm || tapForm) {
        const stage = this.decoderStage(i, h, labels, training);
        h = activation === 'relu' ? tf.relu(stage) : tf.tanh(stage);
      } else {
        const { filters, bias, labelMap } = this.phaseFilters(`decoder.${i}`, height, width, training);
        h = upsampleConv(h, filters, bias, labelShare(labels, labelMap), activation);
      }
    }
    return h;
  }

  /** A decoder stage before its activation, for the Fader preset and the paper's tiny maps (`tapFormMaxSide`). */
  private decoderStage(i: number, h: tf.Tensor4D, labels: tf.Tensor1D, training: boolean): tf.Tensor4D {
    const arch = this.architecture;
    const withLabel = tf.concat([h, labelPlanes(labels, h.shape[1], h.shape[2], arch.labelPlanes as 1 | 2)], 3);
    const bias = this.get(`decoder.${i}.bias`) as tf.Tensor1D;
    if (!arch.batchNorm) return upsampleConvTaps(withLabel, this.tapWeights(`decoder.${i}.filter`, training), bias);
    const upsampled = convTranspose2x(withLabel, this.get(`decoder.${i}.filter`) as tf.Tensor4D, bias);
    const last = i === arch.decoderChannels.length - 1;
    return last ? upsampled : batchNorm(upsampled, this.normState(`decoder.${i}.bn`), training);
  }

  /** z -> logits over the label classes (not smiling, smiling) */
  discriminate(z: tf.Tensor4D, training = false): tf.Tensor2D {
    let h: tf.Tensor = z;
    if (this.architecture.batchNorm) {
      for (let i = 0; this.variables.has(`discriminator.conv${i}.filter`); i++) {
        h = conv2x(
          h as tf.Tensor4D,
          this.get(`discriminator.conv${i}.filter`) as tf.Tensor4D,
          this.get(`discriminator.conv${i}.bias`) as tf.Tensor1D,
        );
        h = leakyRelu(batchNorm(h, this.normState(`discriminator.conv${i}.bn`), training));
      }
    }
    let flat = tf.reshape(h, [z.shape[0], -1]) as tf.Tensor2D;
    const layers = this.architecture.batchNorm ? 2 : 3;
    for (let i = 0; i < layers; i++) {
      flat = dense(
        flat,
        this.get(`discriminator.dense${i}.weights`) as tf.Tensor2D,
        this.get(`discriminator.dense${i}.bias`) as tf.Tensor1D,
      );
      if (i < layers - 1) flat = leakyRelu(flat);
    }
    return flat;
  }

  /**
   * The filters of a fused upsample-conv stage (`upsampleConv`): the four
   * phases' own filters where a phase has 16 channels or more (fewer cost more
   * to join than they save), else the fused filter; the bias each needs; the
   * label's share per unit label. Derived inside the gradient scope in
   * training, so that gradients reach the 4x4 weights; cached at inference,
   * per map size (the label's share depends on it).
   */
  private phaseFilters(stage: string, height: number, width: number, training: boolean): PhaseFilters {
    return this.derivedFilter(`${stage}.filter:phases:${height}x${width}`, training, (): PhaseFilters => {
      const filter = this.get(`${stage}.filter`) as tf.Tensor4D;
      const { features, labelMap } = splitLabelChannel(upsampleConvFilter(filter), height, width);
      const bias = this.get(`${stage}.bias`) as tf.Tensor1D;
      // The bias is cloned: a cached record is disposed when the weights change.
      return bias.shape[0] >= phaseSplitMinChannels
        ? { filters: splitPhases(features), bias: bias.clone(), labelMap }
        : { filters: [features], bias: tf.tile(bias, [4]), labelMap };
    });
  }

  /** The per-tap upsample-conv filter: derived in the gradient scope in training, cached at inference. */
  private tapWeights(name: string, training: boolean): tf.Tensor2D {
    return this.derivedFilter(`${name}:taps`, training, () => upsampleConvTapWeights(this.get(name) as tf.Tensor4D));
  }

  /** A tensor, or a record of tensors, derived from the weights: built afresh in training, cached at inference. */
  private derivedFilter<T extends DerivedFilter>(key: string, training: boolean, derive: () => T): T {
    if (training) return derive();
    let cached = this.derivedFilterCache.get(key);
    if (!cached) {
      cached = tf.tidy(derive);
      for (const t of cached instanceof tf.Tensor ? [cached] : Object.values(cached).flat()) tf.keep(t);
      this.derivedFilterCache.set(key, cached);
    }
    return cached as T;
  }

  dispose(): void {
    this.weightsChanged();
    for (const v of this.variables.values()) v.variable.dispose();
    this.variables.clear();
  }
}

/** The label plane's share of a fused upsample-conv stage: each image's label times the share per unit label. */
function labelShare(labels: tf.Tensor1D, labelMap: tf.Tensor4D): tf.Tensor4D {
  return tf.mul(tf.reshape(labels, [labels.shape[0], 1, 1, 1]), labelMap) as tf.Tensor4D;
}
