/** Peak signal-to-noise ratio of two 8-bit images of the same size, in dB. */
export function psnr(a: Uint8Array | Float32Array, b: Uint8Array | Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  const mse = sum / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/**
 * Mean structural similarity (Wang et al. 2004) of two 8-bit RGB images, on
 * luma, with 7x7 windows at every position and the usual constants.
 */
export function ssim(
  a: Uint8Array | Float32Array,
  b: Uint8Array | Float32Array,
  width: number,
  height: number,
): number {
  const lumaA = luma(a, width * height);
  const lumaB = luma(b, width * height);
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  const radius = 3;
  let total = 0;
  let windows = 0;
  for (let y = radius; y < height - radius; y++) {
    for (let x = radius; x < width - radius; x++) {
      let sa = 0;
      let sb = 0;
      let saa = 0;
      let sbb = 0;
      let sab = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        for (let dx = -radius; dx <= radius; dx++) {
          const i = (y + dy) * width + x + dx;
          const va = lumaA[i]!;
          const vb = lumaB[i]!;
          sa += va;
          sb += vb;
          saa += va * va;
          sbb += vb * vb;
          sab += va * vb;
        }
      }
      const n = (2 * radius + 1) ** 2;
      const ma = sa / n;
      const mb = sb / n;
      const va = saa / n - ma * ma;
      const vb = sbb / n - mb * mb;
      const cov = sab / n - ma * mb;
      total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      windows++;
    }
  }
  return total / windows;
}

/** A part of an image, as fractions of its height (top, bottom) and width (left, right). */
export interface FractionBox {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/**
 * How sharp the detail inside `box` of an 8-bit RGB image is, whatever its
 * contrast: the mean fine detail of the luma (each pixel against the mean of
 * its 3 x 3 neighbourhood) over the mean coarser detail (that mean against the
 * 7 x 7 one). Blur takes the fine detail first, so the ratio falls; more or
 * less contrast scales both alike and leaves it. NaN for an area without detail.
 */
export function detailSharpness(rgb: Uint8Array, width: number, height: number, box: FractionBox): number {
  const values = luma(rgb, width * height);
  const near = boxMean(values, width, height, 1);
  const wide = boxMean(values, width, height, 3);
  let fine = 0;
  let coarse = 0;
  for (let y = Math.floor(box.top * height); y < Math.ceil(box.bottom * height); y++) {
    for (let x = Math.floor(box.left * width); x < Math.ceil(box.right * width); x++) {
      const i = y * width + x;
      fine += Math.abs(values[i]! - near[i]!);
      coarse += Math.abs(near[i]! - wide[i]!);
    }
  }
  return fine / coarse;
}

/**
 * Each value's mean over its (2 radius + 1)^2 neighbourhood, clipped at the
 * edges; from a summed-area table, so a face of hundreds of pixels costs no more per pixel.
 */
function boxMean(values: Float32Array, width: number, height: number, radius: number): Float32Array {
  const stride = width + 1;
  const sums = new Float64Array(stride * (height + 1));
  for (let y = 0; y < height; y++) {
    let row = 0;
    for (let x = 0; x < width; x++) {
      row += values[y * width + x]!;
      sums[(y + 1) * stride + x + 1] = sums[y * stride + x + 1]! + row;
    }
  }
  const out = new Float32Array(values.length);
  for (let y = 0; y < height; y++) {
    const top = Math.max(0, y - radius);
    const bottom = Math.min(height, y + radius + 1);
    for (let x = 0; x < width; x++) {
      const left = Math.max(0, x - radius);
      const right = Math.min(width, x + radius + 1);
      const sum =
        sums[bottom * stride + right]! -
        sums[top * stride + right]! -
        sums[bottom * stride + left]! +
        sums[top * stride + left]!;
      out[y * width + x] = sum / ((bottom - top) * (right - left));
    }
  }
  return out;
}

function luma(rgb: Uint8Array | Float32Array, pixels: number): Float32Array {
  const out = new Float32Array(pixels);
  for (let i = 0; i < pixels; i++) out[i] = 0.299 * rgb[3 * i]! + 0.587 * rgb[3 * i + 1]! + 0.114 * rgb[3 * i + 2]!;
  return out;
}
