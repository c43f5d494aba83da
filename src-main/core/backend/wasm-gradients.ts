import {
  Concat,
  Conv2DBackpropFilter,
  BatchMatMul,
  Conv2DBackpropInput,
  getKernel,
  Identity,
  PadV2,
  Slice,
  SplitV,
  Sum,
  Transpose,
  Unpack,
  backend_util,
  registerKernel,
  util,
  unregisterKernel,
  type Conv2DBackpropFilterAttrs,
  type ConcatAttrs,
  type Conv2DBackpropInputAttrs,
  type PadV2Attrs,
  type KernelBackend,
  type KernelFunc,
  type SliceAttrs,
  type SplitVAttrs,
  type SumAttrs,
  type TransposeAttrs,
  type UnpackAttrs,
  type BatchMatMulAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { conv2dBackpropFilter, conv2dBackpropInput } from './conv-backprop.js';
import { wasmConcat, wasmPad, wasmSlice, wasmSplit, wasmUnpack } from './wasm-copy-kernels.js';
import { KernelScope } from './kernel-scope.js';
import { wasmSumLeading } from './wasm-sum.js';
import { wasmTranspose } from './wasm-transpose.js';

/** Kernels this module registers on the WebAssembly backend (tests compare each with the CPU backend). */
export const registeredWasmKernels = [
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  Slice,
  SplitV,
  Unpack,
  Identity,
  BatchMatMul,
  Transpose,
  Sum,
  Concat,
  PadV2,
] as const;

let registered = false;

/**
 * The WebAssembly backend has no Conv2DBackpropFilter and a slow scalar
 * Conv2DBackpropInput; training needs both, fast. Both are replaced by
 * formulations on its XNNPACK Conv2D; Slice, SplitV and Unpack (which they
 * and the gradients of concat and unstack lean on) by ones that do not copy
 * their whole input; Identity, Transpose, Sum, Concat, PadV2 and BatchMatMul
 * by faster forms.
 * Safe to call more than once.
 */
export function registerWasmGradients(): void {
  if (registered) return;
  registered = true;
  useWasmKernel(Conv2DBackpropFilter, ({ inputs, backend, attrs }) =>
    conv2dBackpropFilter(
      backend as KernelBackend,
      'wasm',
      inputs['x'] as TensorInfo,
      inputs['dy'] as TensorInfo,
      attrs as unknown as Conv2DBackpropFilterAttrs,
    ),
  );
  useWasmKernel(Conv2DBackpropInput, ({ inputs, backend, attrs }) =>
    conv2dBackpropInput(
      backend as KernelBackend,
      'wasm',
      inputs['dy'] as TensorInfo,
      inputs['filter'] as TensorInfo,
      attrs as unknown as Conv2DBackpropInputAttrs,
    ),
  );
  // The engine clones every tensor it saves for the backward pass; tfjs'
  // WebAssembly Identity copies the data, the CPU backend's shares it. Tensors
  // are immutable, so sharing (with a reference count) is safe and free.
  useWasmKernel(Identity, ({ inputs, backend }) => {
    const x = inputs['x'] as TensorInfo;
    (backend as KernelBackend & { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
  // tfjs' WebAssembly BatchMatMul is 10x slower with a transposed operand
  // (every dense layer's backward pass has one) than with plain operands.
  preferOwnKernel(BatchMatMul, ({ inputs, backend, attrs }) => {
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    const [a, b] = [inputs['a'] as TensorInfo, inputs['b'] as TensorInfo];
    if (transposeA || transposeB) return plainMatMul(backend as KernelBackend, a, b, transposeA, transposeB);
    return shouldSwap(a, b) ? swappedMatMul(backend as KernelBackend, a, b) : undefined;
  });
  // tfjs' WebAssembly Transpose reads with large strides; ours copies in tiles, where it covers the permutation.
  preferOwnKernel(Transpose, ({ inputs, backend, attrs }) =>
    wasmTranspose(backend as KernelBackend, inputs['x'] as TensorInfo, (attrs as unknown as TransposeAttrs).perm),
  );
  // Bias gradients sum over every axis but the last; tfjs' Sum does that one number at a time.
  preferOwnKernel(Sum, ({ inputs, backend, attrs }) => {
    const { axis, keepDims } = attrs as unknown as SumAttrs;
    return wasmSumLeading(backend as KernelBackend, inputs['x'] as TensorInfo, axis, keepDims);
  });
  // Concat and PadV2 copy rows inside the heap (the decoder's phases, every convolution gradient's padding).
  preferOwnKernel(Concat, ({ inputs, backend, attrs }) =>
    wasmConcat(backend as KernelBackend, inputs as unknown as TensorInfo[], (attrs as unknown as ConcatAttrs).axis),
  );
  preferOwnKernel(PadV2, ({ inputs, backend, attrs }) => {
    const { paddings, constantValue } = attrs as unknown as PadV2Attrs;
    return wasmPad(backend as KernelBackend, inputs['x'] as TensorInfo, paddings, constantValue);
  });
  useWasmKernel(Slice, ({ inputs, backend, attrs }) => {
    const { begin, size } = attrs as unknown as SliceAttrs;
    return wasmSlice(backend as KernelBackend, inputs['x'] as TensorInfo, begin, size);
  });
  // tfjs' SplitV and Unpack (the gradients of concat and stack) call its copying
  // Slice directly, once per part: 16 ms of a training step for the decoder's phases.
  useWasmKernel(SplitV, ({ inputs, backend, attrs }) => {
    const x = inputs['x'] as TensorInfo;
    const { numOrSizeSplits, axis } = attrs as unknown as SplitVAttrs;
    const along = util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = backend_util.prepareSplitSize(x as never, numOrSizeSplits, along);
    return wasmSplit(backend as KernelBackend, x, sizes, along);
  });
  useWasmKernel(Unpack, ({ inputs, backend, attrs }) => {
    const x = inputs['value'] as TensorInfo;
    const { axis } = attrs as unknown as UnpackAttrs;
    return wasmUnpack(backend as KernelBackend, x, axis < 0 ? axis + x.shape.length : axis);
  });
}

/** registerKernel warns when a kernel exists, so drop tfjs' own first. */
function replaceKernel(name: string): void {
  if (getKernel(name, 'wasm')) unregisterKernel(name, 'wasm');
}

/**
 * Puts this project's form of a kernel in front of tfjs' own, which still
 * runs (with its setup function) wherever ours returns undefined.
 */
function preferOwnKernel(
  name: string,
  ours: (args: Parameters<KernelFunc>[0]) => TensorInfo | TensorInfo[] | undefined,
): void {
  const theirs = getKernel(name, 'wasm');
  if (!theirs) return;
  replaceKernel(name);
  registerKernel({ ...theirs, kernelFunc: (args) => ours(args) ?? theirs.kernelFunc(args) });
}

/** Registers this project's kernel for the WebAssembly backend in place of tfjs' own, if it has one. */
function useWasmKernel(name: string, kernelFunc: KernelFunc): void {
  replaceKernel(name);
  registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
}

/** Right operands of earlier products: XNNPACK packs and keeps those it meets again. */
const seenOperands = new WeakSet<object>();

/**
 * Whether A B should run as (B^T A^T)^T. XNNPACK repacks the right operand of
 * a product whenever it meets a new one, which in training is every weight
 * matrix of every step: 12 ms for [4096, 512], as much as the product itself.
 * The left operand is read as it is. Swapping the operands packs A^T instead,
 * and costs three transposes (ours, 10x cheaper than packing), so it pays when
 * B is much larger than A and the result, the first time B is met. From the
 * second time on (inference with the same weights), XNNPACK packs B once and
 * keeps it.
 */
function shouldSwap(a: TensorInfo, b: TensorInfo): boolean {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || matrixCount(a) !== 1 || b.shape.length !== a.shape.length) {
    return false;
  }
  if (seenOperands.has(b.dataId)) return false;
  seenOperands.add(b.dataId);
  const resultSize = a.shape.at(-2)! * b.shape.at(-1)!;
  return sizeOf(b) >= minimumSwappedSize && sizeOf(b) >= 4 * sizeOf(a) && sizeOf(b) >= resultSize;
}

/** Right operands smaller than this pack in well under a millisecond. */
const minimumSwappedSize = 1 << 18;

function swappedMatMul(backend: KernelBackend, a: TensorInfo, b: TensorInfo): TensorInfo {
  const scope = new KernelScope(backend, 'wasm');
  return scope.finish(scope.swapLastAxes(scope.matMul(scope.swapLastAxes(b), scope.swapLastAxes(a))));
}

/**
 * A product with transposed operands as a product of plain ones, moving the
 * fewest numbers: A B^T either transposes B, or is (B A^T)^T, which transposes
 * A and the result instead (far less when B is a weight matrix); likewise A^T B.
 */
function plainMatMul(
  backend: KernelBackend,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): TensorInfo {
  const scope = new KernelScope(backend, 'wasm');
  const swap = (t: TensorInfo) => scope.swapLastAxes(t);
  const multiply = (x: TensorInfo, y: TensorInfo) => scope.matMul(x, y);
  const rows = a.shape.at(transposeA ? -1 : -2)!;
  const columns = b.shape.at(transposeB ? -2 : -1)!;
  const resultSize = matrixCount(a) * rows * columns;
  if (transposeA && transposeB) return scope.finish(swap(multiply(b, a)));
  if (transposeB) {
    const direct = sizeOf(b);
    const flipped = sizeOf(a) + resultSize;
    return scope.finish(direct <= flipped ? multiply(a, swap(b)) : swap(multiply(b, swap(a))));
  }
  const direct = sizeOf(a);
  const flipped = sizeOf(b) + resultSize;
  return scope.finish(direct <= flipped ? multiply(swap(a), b) : swap(multiply(swap(b), a)));
}

function sizeOf(t: TensorInfo): number {
  return util.sizeFromShape(t.shape);
}

/** How many matrices a batch of them holds (1 for a plain matrix). */
function matrixCount(t: TensorInfo): number {
  return sizeOf(t) / (t.shape.at(-1)! * t.shape.at(-2)!);
}
