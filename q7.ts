import * as tf from '@tensorflow/tfjs';
import { selectBackend } from './src-main/core/backend/select-backend.js';
import { upsampleConv, upsampleConvFilter, upsampleConvReference } from './src-main/core/model/layers.js';
await selectBackend('wasm');
for (const be of ['wasm', 'cpu']) {
  await tf.setBackend(be);
  const x = tf.randomNormal([2, 5, 7, 6]) as tf.Tensor4D;
  const w = tf.randomNormal([4, 4, 6, 3]) as tf.Tensor4D;
  const b = tf.randomNormal([3]) as tf.Tensor1D;
  console.log(
    be,
    tf.max(tf.abs(tf.sub(upsampleConv(x, upsampleConvFilter(w), b), upsampleConvReference(x, w, b)))).dataSync(),
  );
  console.log(
    be,
    tf.max(tf.abs(tf.sub(tf.conv2d(x, tf.randomNormal([3, 3, 6, 12]) as tf.Tensor4D, 1, 'same'), 0))).dataSync(),
  );
}
