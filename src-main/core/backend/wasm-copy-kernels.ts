import { backend_util, slice_util, util, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs';
import { heapView, makeOutput, wasmKernels } from './wasm-kernels/kernels.js';

/**
 * A box of numbers to copy: its extent along each axis, and how many numbers
 * apart consecutive indices of each axis lie in the source and the target.
 */
interface Box {
  extent: number[];
  sourceStrides: number[];
  targetStrides: number[];
}

/**
 * The same box with as few axes as possible: axes of extent 1 dropped, and an
 * axis merged into the next one wherever both arrays step over it as over one
 * longer axis (a slice that keeps whole rows copies them as one run).
 */
function mergeAxes(box: Box): Box {
  const merged: Box = { extent: [], sourceStrides: [], targetStrides: [] };
  for (let axis = box.extent.length - 1; axis >= 0; axis--) {
    const extent = box.extent[axis]!;
    if (extent === 1) continue;
    const [source, target] = [box.sourceStrides[axis]!, box.targetStrides[axis]!];
    const mergesInward =
      merged.extent.length > 0 &&
      source === merged.extent[0]! * merged.sourceStrides[0]! &&
      target === merged.extent[0]! * merged.targetStrides[0]!;
    if (mergesInward) {
      merged.extent[0]! *= extent;
    } else {
      merged.extent.unshift(extent);
      merged.sourceStrides.unshift(source);
      merged.targetStrides.unshift(target);
    }
  }
  return merged;
}

/**
 * Copies a box between two places of the WebAssembly heap (byte addresses),
 * numbers of `bytes` bytes each. The two innermost axes go to one kernel call
 * (rows of a contiguous run); outer axes, if any, are walked here like an
 * odometer.
 */
function copyBox(backend: KernelBackend, source: number, target: number, box: Box, bytes: number): void {
  const { extent, sourceStrides, targetStrides } = mergeAxes(box);
  // Runs of one number where the innermost axis is strided (a slice of one channel, say).
  if (extent.length === 0 || sourceStrides.at(-1) !== 1 || targetStrides.at(-1) !== 1) {
    extent.push(1);
    sourceStrides.push(1);
    targetStrides.push(1);
  }
  const rank = extent.length;
  const rowBytes = extent[rank - 1]! * bytes;
  const rows = rank > 1 ? extent[rank - 2]! : 1;
  const sourceRowStride = rank > 1 ? sourceStrides[rank - 2]! * bytes : 0;
  const targetRowStride = rank > 1 ? targetStrides[rank - 2]! * bytes : 0;
  const kernels = wasmKernels(backend);
  const outer = extent.slice(0, Math.max(0, rank - 2));
  const index = new Array<number>(outer.length).fill(0);
  for (;;) {
    let from = source;
    let to = target;
    for (let d = 0; d < outer.length; d++) {
      from += index[d]! * sourceStrides[d]! * bytes;
      to += index[d]! * targetStrides[d]! * bytes;
    }
    kernels.copyRows(from, to, rows, rowBytes, sourceRowStride, targetRowStride);
    let d = outer.length - 1;
    while (d >= 0 && ++index[d]! === outer[d]!) index[d--] = 0;
    if (d < 0) break;
  }
}

/** Contiguous strides (in numbers) of a shape, the innermost 1. */
function stridesOf(shape: number[]): number[] {
  return shape.length === 0 ? [] : [...util.computeStrides(shape), 1];
}

/**
 * Slice for the WebAssembly backend. tfjs' own first copies the whole input
 * out of the WebAssembly heap (readSync) for every slice, which made slicing
 * one filter tap out of a large filter cost as much as copying all of it. This
 * one copies the slice's rows inside the heap, in one kernel call per block of
 * rows.
 */
export function wasmSlice(
  backend: KernelBackend,
  x: TensorInfo,
  begin: number | number[],
  size: number | number[] | undefined,
): TensorInfo {
  if (x.dtype === 'string') throw new Error('Slice of strings is not supported here');
  const [start, extent] = slice_util.parseSliceParams(x as never, begin, size) as [number[], number[]];
  const out = makeOutput(backend, extent, x.dtype);
  if (util.sizeFromShape(extent) === 0) return out;
  const source = heapView(backend, x);
  const xStrides = stridesOf(x.shape);
  const offset = start.reduce((sum, s, i) => sum + s * xStrides[i]!, 0);
  const bytes = source.BYTES_PER_ELEMENT;
  copyBox(
    backend,
    source.byteOffset + offset * bytes,
    heapView(backend, out).byteOffset,
    {
      extent,
      sourceStrides: xStrides,
      targetStrides: stridesOf(extent),
    },
    bytes,
  );
  return out;
}

/**
 * Concat for the WebAssembly backend: tfjs' own copies each input's part of
 * every outer row with a typed-array view of its own (the decoder's phases,
 * joined along channels, have tens of thousands of rows). Undefined for
 * strings, which the caller hands to tfjs' kernel.
 */
export function wasmConcat(backend: KernelBackend, inputs: TensorInfo[], axis: number): TensorInfo | undefined {
  const first = inputs[0]!;
  if (first.dtype === 'string') return undefined;
  const along = util.parseAxisParam(axis, first.shape)[0]!;
  const outShape = backend_util.computeOutShape(
    inputs.map((t) => t.shape),
    along,
  );
  const out = makeOutput(backend, outShape, first.dtype);
  if (util.sizeFromShape(outShape) === 0) return out;
  const rows = util.sizeFromShape(outShape.slice(0, along));
  const total = util.sizeFromShape(outShape.slice(along));
  const target = heapView(backend, out);
  const bytes = target.BYTES_PER_ELEMENT;
  let offset = 0;
  for (const input of inputs) {
    const inner = util.sizeFromShape(input.shape.slice(along));
    if (inner === 0) continue;
    const box = { extent: [rows, inner], sourceStrides: [inner, 1], targetStrides: [total, 1] };
    copyBox(backend, heapView(backend, input).byteOffset, target.byteOffset + offset * bytes, box, bytes);
    offset += inner;
  }
  return out;
}

/** Fills a tensor's heap view with one value: numbers of 4 bytes by their bits, others from JavaScript. */
function fillWith(backend: KernelBackend, view: Float32Array | Int32Array | Uint8Array, value: number): void {
  if (view.BYTES_PER_ELEMENT !== 4) {
    view.fill(value);
    return;
  }
  const one = new (view.constructor as Float32ArrayConstructor | Int32ArrayConstructor)([value]);
  const bits = new Int32Array(one.buffer)[0]!;
  wasmKernels(backend).fill(view.byteOffset, view.length, bits);
}

/**
 * PadV2 for the WebAssembly backend: the output filled with the constant, then
 * the input copied into it by rows. tfjs' own walks it number by number (3 ms
 * for a batch of 64 px images). Undefined for strings.
 */
export function wasmPad(
  backend: KernelBackend,
  x: TensorInfo,
  paddings: [number, number][],
  constantValue: number,
): TensorInfo | undefined {
  if (x.dtype === 'string') return undefined;
  const outShape = x.shape.map((d, i) => paddings[i]![0] + d + paddings[i]![1]);
  const out = makeOutput(backend, outShape, x.dtype);
  const target = heapView(backend, out);
  fillWith(backend, target, constantValue);
  if (util.sizeFromShape(x.shape) === 0) return out;
  const outStrides = stridesOf(outShape);
  const offset = paddings.reduce((sum, [before], i) => sum + before * outStrides[i]!, 0);
  const bytes = target.BYTES_PER_ELEMENT;
  copyBox(
    backend,
    heapView(backend, x).byteOffset,
    target.byteOffset + offset * bytes,
    {
      extent: x.shape,
      sourceStrides: stridesOf(x.shape),
      targetStrides: outStrides,
    },
    bytes,
  );
  return out;
}

/** SplitV along any axis, as slices: tfjs' own calls its copying Slice directly. */
export function wasmSplit(backend: KernelBackend, x: TensorInfo, sizes: number[], axis: number): TensorInfo[] {
  const begin = x.shape.map(() => 0);
  return sizes.map((size) => {
    const extent = x.shape.map((d, i) => (i === axis ? size : d));
    const part = wasmSlice(backend, x, begin, extent);
    begin[axis]! += size;
    return part;
  });
}

/** Unpack (the gradient of stack): one slice per index along the axis, without that axis. */
export function wasmUnpack(backend: KernelBackend, x: TensorInfo, axis: number): TensorInfo[] {
  const outShape = x.shape.filter((_, i) => i !== axis);
  return wasmSplit(backend, x, new Array<number>(x.shape[axis]!).fill(1), axis).map((part) => ({
    ...part,
    shape: outShape,
  }));
}
