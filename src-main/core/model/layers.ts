import * as tf from '@tensorflow/tfjs';

/*
 * The building blocks of both presets, as plain functions of tensors. Every
 * function is pure: callers wrap them in tf.tidy or a gradient scope.
 */

export const leakySlope = 0.2;

/**
 * Leaky ReLU with slope `leakySlope`, equal to tf.leakyRelu: x times its
 * slope, step(x, slope) (1 above 0, the slope elsewhere), which is also the
 * gradient's factor. On the WebAssembly backend tfjs' LeakyRelu and the
 * Greater and Select of its gradient are scalar loops on one thread; Step and
 * Multiply run on XNNPACK's threads, 10x faster over a training step.
 */
export function leakyRelu<T extends tf.Tensor>(x: T): T {
  return leakyReluWithGradient(x) as T;
}

const leakyReluWithGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const input = args[0] as tf.Tensor;
  const save = args[1] as tf.GradSaveFunc;
  const slopes = tf.step(input, leakySlope);
  save([slopes]);
  return {
    value: tf.mul(input, slopes),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]!),
  };
});

export function conv2x(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  return tf.add(tf.conv2d(x, filter, 2, 'same'), bias);
}

/**
 * `conv2x` and `leakyRelu` as one fused operation, for inference only (it has
 * no gradient): XNNPACK adds the bias and applies the slope (as a PReLU with
 * the same slope on every channel) as it writes each output, where the plain
 * form makes two more passes over the maps and a gradient scope. One face's
 * encoder: 1.46 ms instead of 1.59 (medians).
 */
export function conv2xLeakyFused(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  return tf.fused.conv2d({
    x,
    filter,
    strides: 2,
    pad: 'same',
    bias,
    activation: 'prelu',
    preluActivationWeights: tf.fill([filter.shape[3]], leakySlope),
  });
}

/**
 * The same stride-2 4x4 'same' convolution on a tiny output map (2x2), as one
 * matrix product over its windows: [n * outPixels, 16 * in] x [16 * in, out].
 * Where the filter is large and the map small, XNNPACK's convolution spends
 * most of its time preparing the filter rather than multiplying; the product's
 * backward pass also never reorders the filter (see the WebAssembly
 * BatchMatMul in backend/wasm-gradients.ts). The result equals `conv2x`.
 */
export function conv2xWindows(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  const [n, h, w, inChannels] = x.shape;
  const outChannels = filter.shape[3];
  const [outH, outW] = [Math.ceil(h / 2), Math.ceil(w / 2)];
  // 'same' at stride 2: (out - 1) * 2 + 4 - in rows of padding, the smaller half on top.
  const padH = (outH - 1) * 2 + 4 - h;
  const padW = (outW - 1) * 2 + 4 - w;
  const top = Math.floor(padH / 2);
  const left = Math.floor(padW / 2);
  const padded = tf.pad(x, [
    [0, 0],
    [top, padH - top],
    [left, padW - left],
    [0, 0],
  ]);
  const windows: tf.Tensor[] = [];
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      windows.push(tf.reshape(tf.slice(padded, [0, 2 * oy, 2 * ox, 0], [n, 4, 4, inChannels]), [n, 16 * inChannels]));
    }
  }
  const patches = tf.reshape(tf.stack(windows, 1), [n * outH * outW, 16 * inChannels]);
  const product = tf.matMul(patches, tf.reshape(filter, [16 * inChannels, outChannels]));
  return tf.add(tf.reshape(product, [n, outH, outW, outChannels]), bias);
}

/**
 * Which taps of a 4-tap 'same' filter land on each low-resolution neighbour
 * (offset -1, 0, +1) for output phase 0 and 1 of a nearest x2 upsampling:
 * upsampled row 2a+r reads source rows a + floor((r + k - 1) / 2).
 */
function upsampleTapMatrix(): tf.Tensor2D {
  const kernel = 4;
  const padBefore = 1;
  const rows: number[][] = [];
  for (let dy = 0; dy < 3; dy++) {
    for (let dx = 0; dx < 3; dx++) {
      for (let ry = 0; ry < 2; ry++) {
        for (let rx = 0; rx < 2; rx++) {
          const row = new Array<number>(kernel * kernel).fill(0);
          for (let ky = 0; ky < kernel; ky++) {
            for (let kx = 0; kx < kernel; kx++) {
              const hitsY = Math.floor((ry + ky - padBefore) / 2) === dy - 1;
              const hitsX = Math.floor((rx + kx - padBefore) / 2) === dx - 1;
              if (hitsY && hitsX) row[ky * kernel + kx] = 1;
            }
          }
          rows.push(row);
        }
      }
    }
  }
  return tf.tensor2d(rows);
}

let tapMatrix: tf.Tensor2D | undefined;

/**
 * A 4x4 filter applied after nearest x2 upsampling equals, per output phase,
 * a 3x3 filter on the low-resolution input whose taps are sums of the 4x4
 * taps. Returns the four phase filters side by side: [3, 3, in, 4 * out].
 */
export function upsampleConvFilter(filter: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, inChannels, outChannels] = filter.shape;
  if (kh !== 4 || kw !== 4) throw new Error('upsampleConvFilter expects a 4x4 filter');
  tapMatrix ??= tf.keep(tf.transpose(upsampleTapMatrix()));
  // [in*out, 16] x [16, 36]: the large operand streams through and the small
  // tap matrix is the one the matrix multiply packs (it would pack the weights
  // every step the other way round).
  const taps = tf.transpose(tf.reshape(filter, [16, inChannels * outChannels]));
  const phases = tf.reshape(tf.matMul(taps, tapMatrix), [inChannels, outChannels, 9, 4]);
  return tf.reshape(tf.transpose(phases, [2, 0, 3, 1]), [3, 3, inChannels, 4 * outChannels]);
}

/**
 * A fused phase filter whose last input channel reads the label plane, split
 * so that the plane need not be concatenated to the feature maps: the plane
 * holds one value per image, so its share of the convolution is that value
 * times the label channel's filter convolved with a plane of ones (zero
 * beyond the map, as the plane's padding is). Returns the filter of the other
 * channels and that share per unit label, [1, h, w, 4 * out].
 */
export function splitLabelChannel(
  phaseFilter: tf.Tensor4D,
  height: number,
  width: number,
): { features: tf.Tensor4D; labelMap: tf.Tensor4D } {
  const [kh, kw, inChannels, outChannels] = phaseFilter.shape;
  const features = tf.slice(phaseFilter, [0, 0, 0, 0], [kh, kw, inChannels - 1, outChannels]);
  const label = tf.slice(phaseFilter, [0, 0, inChannels - 1, 0], [kh, kw, 1, outChannels]);
  return { features, labelMap: tf.conv2d(tf.ones([1, height, width, 1]), label, 1, 'same') };
}

/**
 * The taps of a fused phase filter ([3, 3, in, 4 * out]) that reach each
 * phase. Output row 2a reads source rows a - 1 .. a + 1, and row 2a + 1 only
 * a and a + 1 (likewise for columns), so phase (ry, rx) needs a (3 - ry) x
 * (3 - rx) filter: 25 taps of the fused form's 36, whose others are zero.
 * Phases in the fused filter's order: (0, 0), (0, 1), (1, 0), (1, 1).
 */
export function splitPhases(phaseFilter: tf.Tensor4D): tf.Tensor4D[] {
  const [, , inChannels, phaseChannels] = phaseFilter.shape;
  const outChannels = phaseChannels / 4;
  return phaseOffsets.map(([ry, rx], phase) =>
    tf.slice(phaseFilter, [ry, rx, 0, phase * outChannels], [3 - ry, 3 - rx, inChannels, outChannels]),
  );
}

const phaseOffsets = [
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
] as const;

/** Each phase filter's padding: a phase that starts one row (column) lower needs none before it. */
const phasePadding = phaseOffsets.map(
  ([ry, rx]): [[number, number], [number, number], [number, number], [number, number]] => [
    [0, 0],
    [1 - ry, 1],
    [1 - rx, 1],
    [0, 0],
  ],
);

/**
 * Nearest-neighbour x2 upsampling, a 4x4 'same' convolution and its activation,
 * computed at the low resolution and interleaved depth-to-space: each output
 * phase convolved with its own taps (`splitPhases`), or all four phases as one
 * 3x3 convolution with the fused filter (`upsampleConvFilter`) where only that
 * is given. Each convolution adds the bias as it writes, so `bias` has one
 * value per output channel of each filter (the fused filter's is the bias four
 * times). `labelShare` is the label plane's share where the filter was split
 * by `splitLabelChannel`. The result equals the plain composition.
 *
 * The fused filter needs 2.6x fewer multiply-adds than the plain composition,
 * the phases' own filters 30% fewer again; with three channels per phase (the
 * last stage) joining the phases costs more than those taps. tanh is computed
 * as 2 sigmoid(2x) - 1: XNNPACK's sigmoid is vectorised, tfjs' WebAssembly tanh
 * a scalar loop. A training step at 64 px, batch 32: 640-660 ms instead of
 * 690-720; one face's decode: 2.9-3.3 ms instead of 3.5.
 */
export function upsampleConv(
  x: tf.Tensor4D,
  filters: tf.Tensor4D[],
  bias: tf.Tensor1D,
  labelShare: tf.Tensor4D | undefined,
  activation: 'relu' | 'tanh',
): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const byPhase = filters.length === 4;
  const outChannels = byPhase ? filters[0]!.shape[3] : filters[0]!.shape[3] / 4;
  const convolved = byPhase
    ? tf.concat(
        filters.map((filter, phase) => tf.fused.conv2d({ x, filter, strides: 1, pad: phasePadding[phase]!, bias })),
        3,
      )
    : tf.fused.conv2d({ x, filter: filters[0]!, strides: 1, pad: 'same', bias });
  const phases = labelShare ? tf.add(convolved, labelShare) : convolved;
  const activated = activation === 'relu' ? tf.relu(phases) : tf.sub(tf.mul(tf.sigmoid(tf.mul(phases, 2)), 2), 1);
  const interleaved = tf.transpose(tf.reshape(activated, [n, h, w, 2, 2, outChannels]), [0, 1, 3, 2, 4, 5]);
  return tf.reshape(interleaved, [n, 2 * h, 2 * w, outChannels]);
}

/**
 * The filter for `upsampleConvTaps`: [in, 16 * out], each tap's [in, out]
 * matrix side by side.
 */
export function upsampleConvTapWeights(filter: tf.Tensor4D): tf.Tensor2D {
  const [kh, kw, inChannels, outChannels] = filter.shape;
  if (kh !== 4 || kw !== 4) throw new Error('upsampleConvTapWeights expects a 4x4 filter');
  const byTap = tf.reshape(filter, [16, inChannels, outChannels]);
  return tf.reshape(tf.transpose(byTap, [1, 0, 2]), [inChannels, 16 * outChannels]);
}

const tapMixers = new Map<string, tf.Tensor2D>();

/**
 * For an h x w map: which (input pixel, filter tap) products add up to each
 * output pixel of nearest x2 upsampling and a 4x4 'same' convolution, as a
 * 0/1 matrix [4hw, 16hw]. Upsampled row q (0..2h-1) holds source row q / 2;
 * output row o reads upsampled rows o - 1 .. o + 2, zero outside the map.
 */
function tapMixer(height: number, width: number): tf.Tensor2D {
  const key = `${height}x${width}`;
  let mixer = tapMixers.get(key);
  if (!mixer) {
    const rows: number[][] = [];
    for (let oy = 0; oy < 2 * height; oy++) {
      for (let ox = 0; ox < 2 * width; ox++) {
        const row = new Array<number>(height * width * 16).fill(0);
        for (let ky = 0; ky < 4; ky++) {
          for (let kx = 0; kx < 4; kx++) {
            const qy = oy + ky - 1;
            const qx = ox + kx - 1;
            if (qy < 0 || qy >= 2 * height || qx < 0 || qx >= 2 * width) continue;
            const source = Math.floor(qy / 2) * width + Math.floor(qx / 2);
            row[source * 16 + ky * 4 + kx] = 1;
          }
        }
        rows.push(row);
      }
    }
    mixer = tf.keep(tf.tensor2d(rows));
    tapMixers.set(key, mixer);
  }
  return mixer;
}

/**
 * Nearest x2 upsampling followed by a 4x4 'same' convolution on a tiny map
 * (2x2, 4x4), as two matrix products: every input pixel times every filter
 * tap ([n * hw, in] x [in, 16 * out]), then each output pixel's sum of the
 * products that reach it (a 0/1 matrix). On a 2x2 map with 513 channels this
 * is a quarter of the multiply-adds of the plain composition and less than
 * half of the fused 3x3 form's, whose taps mostly fall on the zero padding;
 * its mixing matrix grows with the square of the pixels, so larger maps use
 * the fused form. The result equals the plain composition.
 */
export function upsampleConvTaps(x: tf.Tensor4D, tapWeights: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor4D {
  const [n, h, w, inChannels] = x.shape;
  const outChannels = tapWeights.shape[1] / 16;
  const products = tf.matMul(tf.reshape(x, [n * h * w, inChannels]), tapWeights);
  // [n, hw * 16, out] -> [hw * 16, n * out], so that one product with the mixer sums them.
  const bySource = tf.reshape(tf.transpose(tf.reshape(products, [n, h * w * 16, outChannels]), [1, 0, 2]), [
    h * w * 16,
    n * outChannels,
  ]);
  const mixed = tf.reshape(tf.matMul(tapMixer(h, w), bySource), [4 * h * w, n, outChannels]);
  return tf.add(tf.reshape(tf.transpose(mixed, [1, 0, 2]), [n, 2 * h, 2 * w, outChannels]), bias);
}

/**
 * The plain composition: nearest x2 upsampling, then the 4x4 convolution: the
 * reference the faster forms are tested against.
 */
export function upsampleConvReference(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  return tf.add(tf.conv2d(upsampleNearest2x(x), filter, 1, 'same'), bias);
}

/**
 * Nearest-neighbour x2 upsampling by broadcasting, whose gradient (a sum over
 * the copies) is right on every backend; tfjs' CPU ResizeNearestNeighborGrad
 * disagrees with its WebAssembly one.
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const copies = tf.mul(tf.reshape(x, [n, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1]));
  return tf.reshape(copies, [n, 2 * h, 2 * w, c]);
}

/** Transposed 4x4 stride-2 convolution (Fader's decoder); filter is [4, 4, out, in]. */
export function convTranspose2x(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const outShape: [number, number, number, number] = [n, 2 * h, 2 * w, filter.shape[2]];
  return tf.add(tf.conv2dTranspose(x, filter, outShape, 2, 'same'), bias);
}

export interface BatchNormState {
  gamma: tf.Variable;
  beta: tf.Variable;
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
}

const batchNormEpsilon = 1e-5;
const batchNormMomentum = 0.1;

/**
 * Batch normalisation over N, H, W. In training it normalises with the batch's
 * statistics and folds them into the moving averages used at inference.
 */
export function batchNorm<T extends tf.Tensor>(x: T, state: BatchNormState, training: boolean): T {
  const axes = x.rank === 4 ? [0, 1, 2] : [0];
  if (!training) {
    return tf.batchNorm(x, state.movingMean, state.movingVariance, state.beta, state.gamma, batchNormEpsilon) as T;
  }
  const { mean, variance } = tf.moments(x, axes);
  // The moving averages are plain assignments, outside any gradient.
  tf.tidy(() => {
    const keep = 1 - batchNormMomentum;
    state.movingMean.assign(tf.add(tf.mul(state.movingMean, keep), tf.mul(mean, batchNormMomentum)));
    state.movingVariance.assign(tf.add(tf.mul(state.movingVariance, keep), tf.mul(variance, batchNormMomentum)));
  });
  return tf.batchNorm(x, mean, variance, state.beta, state.gamma, batchNormEpsilon) as T;
}

/**
 * The label as constant feature maps of the given size: one plane holding the
 * value itself (the paper), or two planes (1 - v, v) (Fader's one-hot). Any real
 * value is accepted; values between and beyond 0 and 1 set the intensity.
 */
export function labelPlanes(labels: tf.Tensor1D, height: number, width: number, planes: 1 | 2): tf.Tensor4D {
  const n = labels.shape[0];
  const values =
    planes === 1
      ? tf.reshape(labels, [n, 1, 1, 1])
      : tf.reshape(tf.stack([tf.sub(1, labels), labels], 1), [n, 1, 1, 2]);
  return tf.mul(tf.ones([1, height, width, planes]), values) as tf.Tensor4D;
}

export function dense(x: tf.Tensor2D, weights: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D {
  return tf.add(tf.matMul(x, weights), bias);
}
