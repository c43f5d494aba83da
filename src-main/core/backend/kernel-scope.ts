import { getKernel, type KernelBackend, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';

/**
 * Runs other kernels of one backend from inside a kernel, the way tfjs' own
 * backends compose kernels: by calling their kernel functions directly, so
 * nothing is recorded on the engine's tape. Every intermediate is disposed by
 * `finish`, except the one returned.
 */
export class KernelScope {
  private readonly intermediates: TensorInfo[] = [];

  constructor(
    private readonly backend: KernelBackend,
    private readonly backendName: string,
  ) {}

  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: object = {}): TensorInfo {
    const out = this.call(kernelName, inputs, attrs);
    if (Array.isArray(out)) throw new Error(`${kernelName} returns several tensors`);
    this.intermediates.push(out);
    return out;
  }

  private call(kernelName: string, inputs: Record<string, TensorInfo>, attrs: object): TensorInfo | TensorInfo[] {
    const kernel = getKernel(kernelName, this.backendName);
    if (!kernel) throw new Error(`Kernel ${kernelName} is not registered for ${this.backendName}`);
    return kernel.kernelFunc({ inputs, backend: this.backend, attrs: attrs as NamedAttrMap });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** The transpose of the last two axes: each matrix of a batch of them. */
  swapLastAxes(x: TensorInfo): TensorInfo {
    const perm = x.shape.map((_, i) => i);
    perm.splice(-2, 2, perm.length - 1, perm.length - 2);
    return this.transpose(x, perm);
  }

  /** A product of plain (untransposed) operands. */
  matMul(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /**
   * Pads (positive amounts) and crops (negative amounts) the spatial axes of an
   * NHWC tensor in one go, so callers can express any window of it.
   */
  window(x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    let out = x;
    const cropTop = Math.max(0, -top);
    const cropBottom = Math.max(0, -bottom);
    const cropLeft = Math.max(0, -left);
    const cropRight = Math.max(0, -right);
    if (cropTop || cropBottom || cropLeft || cropRight) {
      out = this.run(
        'Slice',
        { x: out },
        {
          begin: [0, cropTop, cropLeft, 0],
          size: [n, h - cropTop - cropBottom, w - cropLeft - cropRight, c],
        },
      );
    }
    const padTop = Math.max(0, top);
    const padBottom = Math.max(0, bottom);
    const padLeft = Math.max(0, left);
    const padRight = Math.max(0, right);
    if (padTop || padBottom || padLeft || padRight) {
      out = this.run(
        'PadV2',
        { x: out },
        {
          paddings: [
            [0, 0],
            [padTop, padBottom],
            [padLeft, padRight],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
    }
    return out;
  }

  conv2d(x: TensorInfo, filter: TensorInfo, dilations: [number, number] = [1, 1]): TensorInfo {
    return this.run(
      'Conv2D',
      { x, filter },
      { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations, dimRoundingMode: undefined },
    );
  }

  /**
   * Disposes every intermediate but `result`, which is handed to the caller.
   * Views (reshapes) hold their own reference, so disposing what they view is safe.
   */
  finish(result: TensorInfo): TensorInfo {
    const owned = this.intermediates.includes(result) ? result : this.run('Identity', { x: result });
    for (const info of this.intermediates) {
      if (info !== owned) this.backend.disposeData(info.dataId);
    }
    return owned;
  }
}
