import * as tf from '@tensorflow/tfjs';

/**
 * Builds a tensor in a tidy scope and reads its values. Reading inside the
 * scope and returning the array would make tf.tidy walk every element of it
 * in search of tensors: milliseconds for one face crop, seconds for a filter.
 */
export function tidyValues(build: () => tf.Tensor): Float32Array {
  const result = tf.tidy(build);
  try {
    return result.dataSync() as Float32Array;
  } finally {
    result.dispose();
  }
}
