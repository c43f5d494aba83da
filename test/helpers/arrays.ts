/** The largest absolute difference between two arrays of the same length. */
export function largestDifference(a: Float32Array, b: Float32Array): number {
  let largest = 0;
  a.forEach((v, j) => (largest = Math.max(largest, Math.abs(v - b[j]!))));
  return largest;
}
