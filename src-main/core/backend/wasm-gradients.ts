import {
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  getKernel,
  Identity,
  Slice,
  registerKernel,
  unregisterKernel,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type SliceAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { conv2dBackpropFilter, conv2dBackpropInput } from './conv-backprop.js';
import { wasmSlice } from './wasm-slice.js';

/** Kernels this module registers on the WebAssembly backend (tests compare each with the CPU backend). */
export const registeredWasmKernels = [Conv2DBackpropFilter, Conv2DBackpropInput, Slice, Identity] as const;

let registered = false;

/**
 * The WebAssembly backend has no Conv2DBackpropFilter and a slow scalar
 * Conv2DBackpropInput; training needs both, fast. Both are replaced by
 * formulations on its XNNPACK Conv2D, and Slice (which they and the gradients
 * of concat and unstack lean on) by one that does not copy its whole input.
 * Safe to call more than once.
 */
export function registerWasmGradients(): void {
  if (registered) return;
  registered = true;
  registerKernel({
    kernelName: Conv2DBackpropFilter,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) =>
      conv2dBackpropFilter(
        backend as KernelBackend,
        'wasm',
        inputs['x'] as TensorInfo,
        inputs['dy'] as TensorInfo,
        attrs as unknown as Conv2DBackpropFilterAttrs,
      ),
  });
  replaceKernel(Conv2DBackpropInput);
  registerKernel({
    kernelName: Conv2DBackpropInput,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) =>
      conv2dBackpropInput(
        backend as KernelBackend,
        'wasm',
        inputs['dy'] as TensorInfo,
        inputs['filter'] as TensorInfo,
        attrs as unknown as Conv2DBackpropInputAttrs,
      ),
  });
  // The engine clones every tensor it saves for the backward pass; tfjs'
  // WebAssembly Identity copies the data, the CPU backend's shares it. Tensors
  // are immutable, so sharing (with a reference count) is safe and free.
  replaceKernel(Identity);
  registerKernel({
    kernelName: Identity,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs['x'] as TensorInfo;
      (backend as KernelBackend & { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
  replaceKernel(Slice);
  registerKernel({
    kernelName: Slice,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { begin, size } = attrs as unknown as SliceAttrs;
      return wasmSlice(backend as KernelBackend, inputs['x'] as TensorInfo, begin, size);
    },
  });
}

/** registerKernel warns when a kernel exists, so drop tfjs' own first. */
function replaceKernel(name: string): void {
  if (getKernel(name, 'wasm')) unregisterKernel(name, 'wasm');
}
