import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { KernelScope } from './kernel-scope.js';

/*
 * Convolution gradients written as forward convolutions or matrix products,
 * so that they run on the backend's fast (XNNPACK) Conv2D and products instead
 * of slow or missing backprop kernels. Both work for any stride,
 * 'same'/'valid'/explicit padding and odd sizes; they assume NHWC and dilation
 * 1, which is all gradients ever need.
 */

type Shape4 = [number, number, number, number];

function convInfoOf(
  xShape: Shape4,
  filterShape: Shape4,
  attrs: Conv2DBackpropFilterAttrs | Conv2DBackpropInputAttrs,
): backend_util.Conv2DInfo {
  if (attrs.dataFormat === 'NCHW') {
    throw new Error('Convolution gradients support only NHWC data');
  }
  return backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** How a filter gradient is computed: chosen by its shape unless a test asks for one. */
export type FilterGradientForm = 'convolution' | 'product';

/**
 * dW[kh,kw,ci,co] = sum over n,oh,ow of xPadded[n, oh*s+kh, ow*s+kw, ci] * dy[n,oh,ow,co],
 * as a convolution or as a matrix product (see filterGradientFormOf).
 */
export function conv2dBackpropFilter(
  backend: KernelBackend,
  backendName: string,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: Conv2DBackpropFilterAttrs,
  form?: FilterGradientForm,
): TensorInfo {
  const info = convInfoOf(x.shape as Shape4, attrs.filterShape as Shape4, attrs);
  const scope = new KernelScope(backend, backendName);
  return (form ?? filterGradientFormOf(info)) === 'product'
    ? filterGradientAsProduct(scope, x, dy, info)
    : filterGradientAsConvolution(scope, x, dy, info);
}

/**
 * The matrix product for strided layers with up to 32 input channels (the
 * encoder's first layers): as a convolution, their few channels are its batch
 * and dy, the filter, is large and packed anew by XNNPACK at every call. In a
 * training step at 64 px, batch 32 on two cores, the first layer's gradient
 * took 7.8 ms instead of 15.3 and the second's 17.6 instead of 20.7; with 64
 * channels (the third) it took 12.8 instead of 11.5, and stride 1 (the
 * decoder's phases) is faster as a convolution.
 */
export function filterGradientFormOf(info: backend_util.Conv2DInfo): FilterGradientForm {
  const strided = info.strideHeight > 1 || info.strideWidth > 1;
  return strided && info.inChannels <= 32 ? 'product' : 'convolution';
}

/**
 * With the channels of x moved into the batch position and dy used as a filter
 * (dilated by the stride), the sum is one ordinary convolution.
 */
function filterGradientAsConvolution(
  scope: KernelScope,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const paddedHeight = (info.outHeight - 1) * info.strideHeight + info.filterHeight;
  const paddedWidth = (info.outWidth - 1) * info.strideWidth + info.filterWidth;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const xPadded = scope.window(x, top, paddedHeight - info.inHeight - top, left, paddedWidth - info.inWidth - left);
  const channelsAsBatch = scope.transpose(xPadded, [3, 1, 2, 0]); // [ci, H, W, n]
  const dyAsFilter = scope.transpose(dy, [1, 2, 0, 3]); // [oh, ow, n, co]
  const grad = scope.conv2d(channelsAsBatch, dyAsFilter, [info.strideHeight, info.strideWidth]);
  return scope.finish(scope.transpose(grad, [1, 2, 0, 3])); // [kh, kw, ci, co]
}

/**
 * The same gradient as one matrix product: the patches of x, one row per tap
 * and input channel and one column per output pixel ([kh*kw*ci, n*oh*ow]),
 * times dy ([n*oh*ow, co]). The padded x is folded by the stride and its
 * channels and phases moved first ([sh, sw, ci, n, rows, cols]), so that
 * every tap is a plain slice of whole rows.
 */
function filterGradientAsProduct(
  scope: KernelScope,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize: n, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  // Tap k reads cell (output index + floor(k / s)) of the folded axis, at phase k % s.
  const rows = oh - 1 + Math.ceil(kh / sh);
  const cols = ow - 1 + Math.ceil(kw / sw);
  const { top, left } = info.padInfo;
  const padded = scope.window(x, top, rows * sh - info.inHeight - top, left, cols * sw - info.inWidth - left);
  // [n * rows, sh, cols, sw * ci] -> [n * rows, cols, sh, sw * ci] -> [sh * sw * ci, n * rows * cols]
  const folded = scope.reshape(padded, [n * rows, sh, cols, sw * ci]);
  const phasesLast = scope.transpose(folded, [0, 2, 1, 3]);
  const phasesFirst = scope.transpose(scope.reshape(phasesLast, [n * rows * cols, sh * sw * ci]), [1, 0]);
  const planes = scope.reshape(phasesFirst, [sh * sw * ci, n, rows, cols]);
  const taps: TensorInfo[] = [];
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const phase = (ky % sh) * sw + (kx % sw);
      const begin = [phase * ci, 0, Math.floor(ky / sh), Math.floor(kx / sw)];
      taps.push(scope.run('Slice', { x: planes }, { begin, size: [ci, n, oh, ow] }));
    }
  }
  const patches = scope.run('Concat', taps as unknown as Record<string, TensorInfo>, { axis: 0 });
  const pixels = n * oh * ow;
  const product = scope.run(
    'BatchMatMul',
    { a: scope.reshape(patches, [1, kh * kw * ci, pixels]), b: scope.reshape(dy, [1, pixels, co]) },
    { transposeA: false, transposeB: false },
  );
  return scope.finish(scope.reshape(product, [kh, kw, ci, co]));
}

/** How one output phase r (rows r, r+s, r+2s, ...) of dx reads dy along one axis. */
interface AxisPhase {
  /** first filter tap that reaches this phase */
  firstTap: number;
  /** number of taps (filter rows k = firstTap, firstTap+s, ...) */
  taps: number;
  /** zero rows before and after dy (negative: rows cropped) */
  before: number;
  after: number;
  /** rows of dx in this phase */
  rows: number;
}

/**
 * dx[s*a + r] = sum_k w[k] * dy[oh] over k = s*(a - oh) + r + pad. The taps that
 * reach phase r are k = k0, k0+s, ...; reading dy in increasing order means
 * flipping them, and the phase is a stride-1 correlation with that short filter.
 */
export function axisPhase(
  phase: number,
  stride: number,
  filterSize: number,
  padBefore: number,
  inSize: number,
  outSize: number,
): AxisPhase {
  const firstTap = (((phase + padBefore) % stride) + stride) % stride;
  const taps = firstTap < filterSize ? Math.ceil((filterSize - firstTap) / stride) : 0;
  const offset = (firstTap - phase - padBefore) / stride;
  const rows = Math.max(0, Math.ceil((inSize - phase) / stride));
  const before = offset + taps - 1;
  const after = rows - outSize - before + taps - 1;
  return { firstTap, taps, before, after, rows };
}

/**
 * The input gradient as s*s stride-1 convolutions of dy, one per output phase,
 * interleaved by depth-to-space: the same arithmetic as the transposed
 * convolution itself, without the zeros a naive dilation of dy would multiply.
 */
export function conv2dBackpropInput(
  backend: KernelBackend,
  backendName: string,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DBackpropInputAttrs,
): TensorInfo {
  const info = convInfoOf(attrs.inputShape as Shape4, filter.shape as Shape4, attrs);
  const { strideHeight: sh, strideWidth: sw, batchSize, inChannels } = info;
  const scope = new KernelScope(backend, backendName);
  const [kh, kw, ci, co] = filter.shape as Shape4;
  // [kh, kw, co, ci], then one [co, ci] block per tap; phases pick and flip whole blocks.
  const swapped = scope.transpose(filter, [0, 1, 3, 2]);
  const flat = scope.reshape(swapped, [kh * kw, co, ci]);
  const taps = Array.from({ length: kh * kw }, (_, k) =>
    scope.reshape(scope.run('Slice', { x: flat }, { begin: [k, 0, 0], size: [1, co, ci] }), [co, ci]),
  );
  const rowsMax = Math.ceil(info.inHeight / sh);
  const colsMax = Math.ceil(info.inWidth / sw);
  const phases: TensorInfo[] = [];
  for (let ry = 0; ry < sh; ry++) {
    const py = axisPhase(ry, sh, info.filterHeight, info.padInfo.top, info.inHeight, info.outHeight);
    for (let rx = 0; rx < sw; rx++) {
      const px = axisPhase(rx, sw, info.filterWidth, info.padInfo.left, info.inWidth, info.outWidth);
      const out = phaseGradient(scope, dy, taps, [kh, kw], py, px, [sh, sw], [batchSize, inChannels]);
      // Phases with fewer rows (odd sizes) are padded to a common size, cropped after interleaving.
      phases.push(scope.window(out, 0, rowsMax - py.rows, 0, colsMax - px.rows));
    }
  }
  if (phases.length === 1) return scope.finish(scope.window(phases[0]!, 0, 0, 0, 0));
  // Concat takes its inputs as an array, as tfjs' own concat op passes them.
  const stacked = scope.run('Concat', phases as unknown as Record<string, TensorInfo>, { axis: 3 });
  // [n, a, b, (ry, rx, ci)] -> [n, a, ry, b, rx, ci] -> [n, a*sh + ry, b*sw + rx, ci]
  const split = scope.reshape(stacked, [batchSize, rowsMax, colsMax, sh, sw, inChannels]);
  const interleaved = scope.transpose(split, [0, 1, 3, 2, 4, 5]);
  const full = scope.reshape(interleaved, [batchSize, rowsMax * sh, colsMax * sw, inChannels]);
  const cropped = scope.window(full, 0, info.inHeight - rowsMax * sh, 0, info.inWidth - colsMax * sw);
  return scope.finish(cropped);
}

function phaseGradient(
  scope: KernelScope,
  dy: TensorInfo,
  filterTaps: TensorInfo[],
  filterSize: [number, number],
  py: AxisPhase,
  px: AxisPhase,
  strides: [number, number],
  [batchSize, inChannels]: [number, number],
): TensorInfo {
  if (py.rows === 0 || px.rows === 0 || py.taps === 0 || px.taps === 0) {
    return scope.run('Fill', {}, { shape: [batchSize, py.rows, px.rows, inChannels], value: 0, dtype: 'float32' });
  }
  // The phase's taps, flipped: whole [co, ci] blocks picked from the unstacked filter.
  const picked: TensorInfo[] = [];
  for (let j = py.taps - 1; j >= 0; j--) {
    for (let i = px.taps - 1; i >= 0; i--) {
      const ky = py.firstTap + strides[0] * j;
      const kx = px.firstTap + strides[1] * i;
      picked.push(filterTaps[ky * filterSize[1] + kx]!);
    }
  }
  const [co, ci] = picked[0]!.shape as [number, number];
  const stacked = scope.run('Pack', picked as unknown as Record<string, TensorInfo>, { axis: 0 });
  const phaseFilter = scope.reshape(stacked, [py.taps, px.taps, co, ci]);
  const dyWindow = scope.window(dy, py.before, py.after, px.before, px.after);
  return scope.conv2d(dyWindow, phaseFilter);
}
