import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs';
import { plainMemoryKernels, sharedMemoryKernels } from './binary.js';

/** The functions of kernels.wat; pointers are byte offsets into the backend's heap. */
export interface WasmKernels {
  adam(
    w: number,
    m: number,
    v: number,
    g: number,
    wOut: number,
    mOut: number,
    vOut: number,
    count: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    c1: number,
    c2: number,
    negativeRate: number,
    epsilon: number,
  ): void;
  transpose(src: number, dst: number, outer: number, rows: number, middle: number, cols: number, inner: number): void;
  sumRows(src: number, dst: number, rows: number, cols: number): void;
  fill(dst: number, count: number, bits: number): void;
  copyRows(src: number, dst: number, count: number, rowBytes: number, srcStride: number, dstStride: number): void;
}

/** The parts of tfjs' WebAssembly backend the kernels rely on. */
interface WasmHeapBackend {
  /** The threaded build keeps its (imported) memory as wasmMemory; the plain build exports it. */
  wasm: { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory } };
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

const instances = new WeakMap<WebAssembly.Memory, WasmKernels>();

/**
 * The kernels, instantiated on the backend's own memory (once per memory), so
 * that they read and write its tensors where they lie.
 */
export function wasmKernels(backend: KernelBackend): WasmKernels {
  const { wasm } = backend as unknown as WasmHeapBackend;
  const memory = wasm.wasmMemory ?? wasm.asm?.memory;
  if (!memory) throw new Error('the WebAssembly backend does not expose its memory');
  let kernels = instances.get(memory);
  if (!kernels) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const bytes = Buffer.from(shared ? sharedMemoryKernels : plainMemoryKernels, 'base64');
    // Synchronous: kernels run inside synchronous tfjs kernels, and the module is tiny.
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    kernels = instance.exports as unknown as WasmKernels;
    instances.set(memory, kernels);
  }
  return kernels;
}

/** A tensor's data as a view of the WebAssembly heap. */
export function heapView(backend: KernelBackend, info: TensorInfo): Float32Array | Int32Array | Uint8Array {
  return (backend as unknown as WasmHeapBackend).typedArrayFromHeap(info);
}

/** Where a tensor's data starts in the WebAssembly heap, in bytes. */
export function heapAddress(backend: KernelBackend, info: TensorInfo): number {
  return heapView(backend, info).byteOffset;
}

/** A new output tensor of the backend, its data in the heap (not yet written). */
export function makeOutput(backend: KernelBackend, shape: number[], dtype: string): TensorInfo {
  return (backend as unknown as WasmHeapBackend).makeOutput(shape, dtype);
}
