import { util, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs';
import { heapAddress, makeOutput, wasmKernels } from './wasm-kernels/kernels.js';

/**
 * Sum over the leading axes on the WebAssembly backend: a bias's gradient,
 * summed over batch, rows and columns. tfjs' own first transposes the summed
 * axes to the end, then adds one number at a time: 22 ms of a 64 px training
 * step. Ours adds whole rows as vectors, in the same order. Returns undefined
 * for other axes and dtypes, which the caller hands to tfjs' kernel.
 */
export function wasmSumLeading(
  backend: KernelBackend,
  x: TensorInfo,
  axis: number | number[],
  keepDims: boolean,
): TensorInfo | undefined {
  if (x.dtype !== 'float32') return undefined;
  const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  if (axes.length === 0 || axes.some((a, i) => a !== i)) return undefined;
  const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
  const kept = x.shape.slice(axes.length);
  const outShape = keepDims ? [...axes.map(() => 1), ...kept] : kept;
  const out = makeOutput(backend, outShape, 'float32');
  const cols = util.sizeFromShape(kept);
  if (cols === 0) return out;
  wasmKernels(backend).sumRows(heapAddress(backend, x), heapAddress(backend, out), rows, cols);
  return out;
}
