import * as tf from '@tensorflow/tfjs';

/*
 * face-api's SSD MobileNet v1 forward pass (src/ssdMobilenetv1 of
 * @vladmandic/face-api, MIT), with each convolution, its bias or batch norm and
 * its ReLU6 run as one fused op on the network's own weights. face-api runs
 * them as three or four ops, each a pass over the feature maps: on the
 * WebAssembly backend the batch norms, clips and bias additions took about a
 * fifth of the detector's time (85 of 390 ms on a 12-megapixel photo's
 * 1024-pixel copy). Outputs are those of face-api's pass to float rounding
 * (test/core/faces.test.ts), and its own post-processing (non-maximum
 * suppression, boxes in the image) runs on them unchanged.
 */

/** face-api's parameter layout (src/ssdMobilenetv1/types.ts). */
interface PointwiseParams {
  filters: tf.Tensor4D;
  batch_norm_offset: tf.Tensor1D;
}

interface DepthwiseParams {
  filters: tf.Tensor4D;
  batch_norm_scale: tf.Tensor1D;
  batch_norm_offset: tf.Tensor1D;
  batch_norm_mean: tf.Tensor1D;
  batch_norm_variance: tf.Tensor1D;
}

interface ConvParams {
  filters: tf.Tensor4D;
  bias: tf.Tensor1D;
}

interface BoxPredictorParams {
  box_encoding_predictor: ConvParams;
  class_predictor: ConvParams;
}

export interface SsdParams {
  mobilenetv1: Record<string, PointwiseParams | { depthwise_conv: DepthwiseParams; pointwise_conv: PointwiseParams }>;
  prediction_layer: Record<string, PointwiseParams | BoxPredictorParams>;
  output_layer: { extra_dim: tf.Tensor3D };
}

/** A network that runs a forward pass on face-api's input type (the part of SsdMobilenetv1 replaced here). */
interface ForwardingNet {
  params: unknown;
  forwardInput(input: { toBatchTensor(size: number, centre: boolean): tf.Tensor4D }): unknown;
}

/** One fused layer: filter and bias, with or without ReLU6. */
interface Fused {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
}

/** face-api's batch-norm epsilon in the depthwise layers. */
const batchNormEpsilon = 0.0010000000474974513;

/** MobileNet's depthwise layers that halve the feature map (face-api's getStridesForLayerIdx). */
const stridedLayers = [2, 4, 6, 12];

/**
 * The detector with its layers folded once: batch norms into the depthwise
 * filters and their biases, biases passed to the fused convolutions.
 */
export class FusedSsd {
  private readonly first: Fused;
  private readonly pairs: { depthwise: Fused; pointwise: Fused }[];
  private readonly extras: Fused[];
  private readonly predictors: { boxes: Fused; classes: Fused }[];
  private readonly anchors: tf.Tensor3D;

  constructor(params: SsdParams) {
    const mobilenet = params.mobilenetv1;
    const prediction = params.prediction_layer;
    this.first = pointwise(mobilenet['conv_0'] as PointwiseParams);
    this.pairs = range(1, 13).map((i) => {
      const pair = mobilenet[`conv_${i}`] as { depthwise_conv: DepthwiseParams; pointwise_conv: PointwiseParams };
      return { depthwise: foldBatchNorm(pair.depthwise_conv), pointwise: pointwise(pair.pointwise_conv) };
    });
    this.extras = range(0, 7).map((i) => pointwise(prediction[`conv_${i}`] as PointwiseParams));
    this.predictors = range(0, 5).map((i) => {
      const predictor = prediction[`box_predictor_${i}`] as BoxPredictorParams;
      return { boxes: conv(predictor.box_encoding_predictor), classes: conv(predictor.class_predictor) };
    });
    this.anchors = params.output_layer.extra_dim;
  }

  /** Replaces the forward pass of face-api's loaded SsdMobilenetv1 with this one. */
  static install(net: ForwardingNet): FusedSsd {
    const fused = new FusedSsd(net.params as SsdParams);
    // The batch face-api builds is made inside the tidy, so that it is freed with the rest.
    net.forwardInput = (input) => tf.tidy(() => fused.forward(input.toBatchTensor(512, false)));
    return fused;
  }

  /**
   * face-api's SsdMobilenetv1.forwardInput on a [n, 512, 512, 3] batch of
   * 0..255 pixels. Each feature map is freed as soon as no later layer reads it
   * (face-api keeps them all until the pass ends): the WebAssembly heap, which
   * never shrinks, grows to what a few maps take instead of all of them.
   */
  forward(batch: tf.Tensor4D): { boxes: tf.Tensor2D[]; scores: tf.Tensor1D[] } {
    return tf.tidy(() => {
      const x = tf.tidy(() => tf.sub(tf.div(tf.cast(batch, 'float32'), 127.5), 1) as tf.Tensor4D);
      let out = relu6Conv(x, this.first, 2);
      x.dispose();
      let conv11: tf.Tensor4D | undefined;
      this.pairs.forEach(({ depthwise, pointwise }, i) => {
        const layer = i + 1;
        const spatial = tf.fused.depthwiseConv2d({
          x: out,
          filter: depthwise.filter,
          strides: stridedLayers.includes(layer) ? 2 : 1,
          pad: 'same',
          bias: depthwise.bias,
          activation: 'relu6',
        });
        if (out !== conv11) out.dispose();
        out = relu6Conv(spatial, pointwise, 1);
        spatial.dispose();
        if (layer === 11) conv11 = out;
      });
      // The extra feature maps: pairs of a 1x1 and a strided 3x3 layer; the second of each pair is predicted from.
      const maps: tf.Tensor4D[] = [];
      let extra = out;
      this.extras.forEach((layer, i) => {
        const next = relu6Conv(extra, layer, i % 2 === 1 ? 2 : 1);
        if (i % 2 === 1) {
          extra.dispose();
          maps.push(next);
        }
        extra = next;
      });
      const sources = [conv11!, out, ...maps];
      const n = batch.shape[0];
      const predictions = this.predictors.map(({ boxes, classes }, i) => ({
        boxes: tf.reshape(biasConv(sources[i]!, boxes), [n, -1, 1, 4]),
        classes: tf.reshape(biasConv(sources[i]!, classes), [n, -1, 3]),
      }));
      const boxPredictions = tf.concat(
        predictions.map((p) => p.boxes),
        1,
      );
      const classPredictions = tf.concat(
        predictions.map((p) => p.classes),
        1,
      );
      return outputLayer(boxPredictions, classPredictions, this.anchors);
    });
  }
}

function pointwise(params: PointwiseParams): Fused {
  return { filter: params.filters, bias: params.batch_norm_offset };
}

function conv(params: ConvParams): Fused {
  return { filter: params.filters, bias: params.bias };
}

/** (x - mean) / sqrt(variance + eps) * scale + offset, folded into the depthwise filter and a bias. */
function foldBatchNorm(params: DepthwiseParams): Fused {
  return tf.tidy(() => {
    const scale = tf.div(params.batch_norm_scale, tf.sqrt(tf.add(params.batch_norm_variance, batchNormEpsilon)));
    const filter = tf.mul(params.filters, tf.reshape(scale, [1, 1, -1, 1])) as tf.Tensor4D;
    const bias = tf.sub(params.batch_norm_offset, tf.mul(params.batch_norm_mean, scale)) as tf.Tensor1D;
    return { filter, bias };
  });
}

function relu6Conv(x: tf.Tensor4D, layer: Fused, stride: number): tf.Tensor4D {
  return tf.fused.conv2d({
    x,
    filter: layer.filter,
    strides: stride,
    pad: 'same',
    bias: layer.bias,
    activation: 'relu6',
  });
}

function biasConv(x: tf.Tensor4D, layer: Fused): tf.Tensor4D {
  return tf.fused.conv2d({ x, filter: layer.filter, strides: 1, pad: 'same', bias: layer.bias });
}

/** face-api's outputLayer: anchor-relative box encodings to corners, and face scores. */
function outputLayer(boxPredictions: tf.Tensor, classPredictions: tf.Tensor, anchors: tf.Tensor3D) {
  const n = boxPredictions.shape[0]!;
  const priors = tf.reshape(tf.tile(anchors, [n, 1, 1]), [-1, 4]);
  const [y0, x0, y1, x1] = tf.unstack(tf.transpose(priors, [1, 0]));
  const sizes = [tf.sub(y1!, y0!), tf.sub(x1!, x0!)];
  const centres = [tf.add(y0!, tf.div(sizes[0]!, 2)), tf.add(x0!, tf.div(sizes[1]!, 2))];
  const encoded = tf.unstack(tf.transpose(tf.reshape(boxPredictions, [-1, 4]), [1, 0]));
  const halfHeight = tf.div(tf.mul(tf.exp(tf.div(encoded[2]!, 5)), sizes[0]!), 2);
  const centreY = tf.add(tf.mul(tf.div(encoded[0]!, 10), sizes[0]!), centres[0]!);
  const halfWidth = tf.div(tf.mul(tf.exp(tf.div(encoded[3]!, 5)), sizes[1]!), 2);
  const centreX = tf.add(tf.mul(tf.div(encoded[1]!, 10), sizes[1]!), centres[1]!);
  const corners = tf.transpose(
    tf.stack([
      tf.sub(centreY, halfHeight),
      tf.sub(centreX, halfWidth),
      tf.add(centreY, halfHeight),
      tf.add(centreX, halfWidth),
    ]),
    [1, 0],
  );
  const boxes = tf.reshape(corners, [n, corners.shape[0]! / n, 4]);
  const faceScores = tf.slice(tf.sigmoid(tf.slice(classPredictions, [0, 0, 1], [-1, -1, -1])), [0, 0, 0], [-1, -1, 1]);
  const scores = tf.reshape(faceScores, [n, faceScores.shape[1]!]);
  return { boxes: tf.unstack(boxes) as tf.Tensor2D[], scores: tf.unstack(scores) as tf.Tensor1D[] };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
