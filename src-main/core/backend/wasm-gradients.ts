import {
  Conv2DBackpropFilter,
  BatchMatMul,
  Conv2DBackpropInput,
  getKernel,
  Identity,
  Slice,
  SplitV,
  Unpack,
  backend_util,
  registerKernel,
  util,
  unregisterKernel,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type KernelFunc,
  type SliceAttrs,
  type SplitVAttrs,
  type UnpackAttrs,
  type BatchMatMulAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { conv2dBackpropFilter, conv2dBackpropInput } from './conv-backprop.js';
import { wasmSlice, wasmSplit, wasmUnpack } from './wasm-copy-kernels.js';
import { KernelScope } from './kernel-scope.js';

/** Kernels this module registers on the WebAssembly backend (tests compare each with the CPU backend). */
export const registeredWasmKernels = [
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  Slice,
  SplitV,
  Unpack,
  Identity,
  BatchMatMul,
] as const;

let registered = false;

/**
 * The WebAssembly backend has no Conv2DBackpropFilter and a slow scalar
 * Conv2DBackpropInput; training needs both, fast. Both are replaced by
 * formulations on its XNNPACK Conv2D; Slice, SplitV and Unpack (which they
 * and the gradients of concat and unstack lean on) by ones that do not copy
 * their whole input; Identity and transposed BatchMatMul by faster forms.
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
  const matMul = getKernel(BatchMatMul, 'wasm');
  if (matMul) {
    replaceKernel(BatchMatMul);
    registerKernel({
      ...matMul,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
        if (!transposeA && !transposeB) return matMul.kernelFunc({ inputs, backend, attrs });
        return plainMatMul(
          backend as KernelBackend,
          inputs['a'] as TensorInfo,
          inputs['b'] as TensorInfo,
          transposeA,
          transposeB,
        );
      },
    });
  }
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

/** Registers this project's kernel for the WebAssembly backend in place of tfjs' own, if it has one. */
function useWasmKernel(name: string, kernelFunc: KernelFunc): void {
  replaceKernel(name);
  registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
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
  const size = (t: TensorInfo) => t.shape.reduce((x, y) => x * y, 1);
  const swap = (t: TensorInfo) => {
    const perm = t.shape.map((_, i) => i);
    perm.splice(-2, 2, perm.length - 1, perm.length - 2);
    return scope.transpose(t, perm);
  };
  const multiply = (x: TensorInfo, y: TensorInfo) =>
    scope.run(BatchMatMul, { a: x, b: y }, { transposeA: false, transposeB: false });
  const rows = a.shape.at(transposeA ? -1 : -2)!;
  const columns = b.shape.at(transposeB ? -2 : -1)!;
  const resultSize = (size(a) / (a.shape.at(-1)! * a.shape.at(-2)!)) * rows * columns;
  if (transposeA && transposeB) return scope.finish(swap(multiply(b, a)));
  if (transposeB) {
    const direct = size(b);
    const flipped = size(a) + resultSize;
    return scope.finish(direct <= flipped ? multiply(a, swap(b)) : swap(multiply(b, swap(a))));
  }
  const direct = size(a);
  const flipped = size(b) + resultSize;
  return scope.finish(direct <= flipped ? multiply(swap(a), b) : swap(multiply(swap(b), a)));
}
