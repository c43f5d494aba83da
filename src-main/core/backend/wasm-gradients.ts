import {
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  getKernel,
  registerKernel,
  unregisterKernel,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { conv2dBackpropFilter, conv2dBackpropInput } from './conv-backprop.js';

/** Kernels this module registers on the WebAssembly backend (tests compare each with the CPU backend). */
export const registeredWasmKernels = [Conv2DBackpropFilter, Conv2DBackpropInput] as const;

let registered = false;

/**
 * The WebAssembly backend has no Conv2DBackpropFilter and a slow scalar
 * Conv2DBackpropInput; training needs both, fast. Both are replaced by
 * formulations on its XNNPACK Conv2D. Safe to call more than once.
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
  // registerKernel refuses to replace a kernel, so drop tfjs' own first.
  if (getKernel(Conv2DBackpropInput, 'wasm')) unregisterKernel(Conv2DBackpropInput, 'wasm');
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
}
