import { slice_util, util, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs';

/** The parts of tfjs' WebAssembly backend this kernel relies on. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * Slice for the WebAssembly backend. tfjs' own kernel first copies the whole
 * input out of the WebAssembly heap (readSync) for every slice, which made
 * slicing one filter tap out of a large filter cost as much as copying all of
 * it. This one copies rows straight from heap views.
 */
export function wasmSlice(
  backend: KernelBackend,
  x: TensorInfo,
  begin: number | number[],
  size: number | number[] | undefined,
): TensorInfo {
  if (x.dtype === 'string') throw new Error('Slice of strings is not supported here');
  const wasm = backend as unknown as WasmHeapBackend;
  const [start, extent] = slice_util.parseSliceParams(x as never, begin, size) as [number[], number[]];
  const out = wasm.makeOutput(extent, x.dtype);
  const source = wasm.typedArrayFromHeap(x);
  const target = wasm.typedArrayFromHeap(out);
  if (util.sizeFromShape(extent) === 0) return out;
  const strides = util.computeStrides(x.shape);
  const rank = x.shape.length;
  if (rank === 0 || slice_util.isSliceContinous(x.shape, start, extent)) {
    const offset = rank === 0 ? 0 : slice_util.computeFlatOffset(start, strides);
    target.set(source.subarray(offset, offset + target.length));
    return out;
  }
  // Copy the innermost rows one at a time, walking the outer indices like an odometer.
  // Both tensors live in the same WebAssembly memory: copyWithin on one view of it
  // moves each row without the view per row that subarray would allocate (channel
  // slices have tens of thousands of short rows).
  const heap = new (source.constructor as Float32ArrayConstructor)(source.buffer);
  const sourceStart = source.byteOffset / source.BYTES_PER_ELEMENT;
  let written = target.byteOffset / target.BYTES_PER_ELEMENT;
  const rowLength = extent[rank - 1]!;
  const outer = extent.slice(0, -1);
  const index = new Array<number>(outer.length).fill(0);
  for (;;) {
    let offset = sourceStart + start[rank - 1]!;
    for (let d = 0; d < outer.length; d++) offset += (start[d]! + index[d]!) * strides[d]!;
    heap.copyWithin(written, offset, offset + rowLength);
    written += rowLength;
    let d = outer.length - 1;
    while (d >= 0 && ++index[d]! === outer[d]!) index[d--] = 0;
    if (d < 0) break;
  }
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
