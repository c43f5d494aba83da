import { ExpressionModel } from './expression-model.js';
import { architectureOf, type ModelConfig } from './presets.js';

type Weight = { name: string; shape: number[]; values: Float32Array };

/**
 * How much of the random weights stays on the paths the grown layers add:
 * enough for every new channel to receive gradients (all-zero paths never
 * would), small enough that the grown model starts out editing as its source.
 */
const newPathScale = 0.1;

/**
 * A `paper` model of twice the size, grown from a trained one so that it starts
 * out computing what the smaller one does (Net2Net's function-preserving growth,
 * Chen, Goodfellow and Shlens 2016) and training only has to add the finer detail:
 *
 * - the new first encoder layer box-downsamples the image by 2, each colour
 *   once as it is and once negated (LeakyReLU keeps both signs that way), and
 *   the next layer applies the smaller model's first layer to their difference;
 * - every deeper layer, the latent discriminator, and all but the last decoder
 *   layer are the smaller model's own;
 * - the smaller model's last decoder layer now writes its colours, again with
 *   both signs for the ReLU, into features that the new last layer passes on
 *   (nearest-upsampled, as every stage is) to the tanh.
 *
 * The other channels of the two new layers keep random weights, scaled down on
 * the paths they add to the output (see newPathScale).
 */
export function grownModel(smaller: ExpressionModel, config: ModelConfig, seed = 1): ExpressionModel {
  const from = smaller.config;
  if (from.preset !== 'paper' || config.preset !== 'paper' || config.size !== from.size * 2) {
    throw new Error(
      `only a paper model grows, one size at a time: ${from.size} px ${from.preset} to ${config.size} px ${config.preset}`,
    );
  }
  const grown = ExpressionModel.create(config, seed);
  const source = new Map(smaller.network.exportWeights().map((w) => [w.name, w]));
  const target = new Map(grown.network.exportWeights().map((w) => [w.name, w]));
  const encoderLayers = architectureOf(from).encoderChannels.length;
  const decoderLayers = architectureOf(from).decoderChannels.length;
  const take = (to: string, name: string) => target.set(to, { ...target.get(to)!, values: source.get(name)!.values });

  // The deeper layers move one place down the encoder; the rest keeps its place.
  for (let i = 1; i < encoderLayers; i++) {
    take(`encoder.${i + 1}.filter`, `encoder.${i}.filter`);
    take(`encoder.${i + 1}.bias`, `encoder.${i}.bias`);
  }
  for (let i = 0; i < decoderLayers - 1; i++) {
    take(`decoder.${i}.filter`, `decoder.${i}.filter`);
    take(`decoder.${i}.bias`, `decoder.${i}.bias`);
  }
  for (const name of source.keys()) if (name.startsWith('discriminator.')) take(name, name);

  setBoxDownsample(target.get('encoder.0.filter')!, target.get('encoder.0.bias')!);
  setSignedInput(target.get('encoder.1.filter')!, source.get('encoder.0.filter')!, 1 / 1.2);
  target.get('encoder.1.bias')!.values.set(source.get('encoder.0.bias')!.values);
  const last = decoderLayers - 1;
  setSignedOutput(
    target.get(`decoder.${last}.filter`)!,
    target.get(`decoder.${last}.bias`)!,
    source.get(`decoder.${last}.filter`)!,
    source.get(`decoder.${last}.bias`)!,
  );
  setPassThrough(target.get(`decoder.${last + 1}.filter`)!, target.get(`decoder.${last + 1}.bias`)!);

  grown.network.importWeights(target);
  return grown;
}

/** Index into a [4, 4, in, out] filter. */
function at(filter: Weight, y: number, x: number, input: number, output: number): number {
  const [, width, inputs, outputs] = filter.shape as [number, number, number, number];
  return ((y * width + x) * inputs + input) * outputs + output;
}

/**
 * Output channels 0-2 the 2x2 mean of each colour, 3-5 its negation. A 4x4
 * stride-2 'same' window starts one pixel before 2i, so taps 1 and 2 are
 * pixels 2i and 2i + 1.
 */
function setBoxDownsample(filter: Weight, bias: Weight): void {
  const [, , inputs] = filter.shape as [number, number, number, number];
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) {
      const inWindow = y >= 1 && y <= 2 && x >= 1 && x <= 2;
      for (let c = 0; c < inputs; c++) {
        for (let out = 0; out < 6; out++) {
          const own = inWindow && out % 3 === c;
          filter.values[at(filter, y, x, c, out)] = own ? (out < 3 ? 0.25 : -0.25) : 0;
        }
      }
    }
  }
  bias.values.fill(0, 0, 6);
}

/**
 * A filter reading the colours from channels 0-2 minus channels 3-5, times
 * `scale`: LeakyReLU(0.2) of a and of -a differ by 1.2 a whatever a's sign.
 * The other input channels' random weights are scaled down.
 */
function setSignedInput(filter: Weight, colours: Weight, scale: number): void {
  const [height, width, inputs, outputs] = filter.shape as [number, number, number, number];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let o = 0; o < outputs; o++) {
        for (let c = 0; c < 3; c++) {
          const value = colours.values[at(colours, y, x, c, o)]! * scale;
          filter.values[at(filter, y, x, c, o)] = value;
          filter.values[at(filter, y, x, c + 3, o)] = -value;
        }
        for (let c = 6; c < inputs; c++) filter.values[at(filter, y, x, c, o)]! *= newPathScale;
      }
    }
  }
}

/** Output channels 0-2 the colours' pre-activations, 3-5 their negation (ReLU keeps one of the two). */
function setSignedOutput(filter: Weight, bias: Weight, colours: Weight, colourBias: Weight): void {
  const [height, width, inputs] = filter.shape as [number, number, number, number];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let i = 0; i < inputs; i++) {
        for (let c = 0; c < 3; c++) {
          const value = colours.values[at(colours, y, x, i, c)]!;
          filter.values[at(filter, y, x, i, c)] = value;
          filter.values[at(filter, y, x, i, c + 3)] = -value;
        }
      }
    }
  }
  for (let c = 0; c < 3; c++) {
    bias.values[c] = colourBias.values[c]!;
    bias.values[c + 3] = -colourBias.values[c]!;
  }
}

/**
 * The last layer passes channels 0-2 minus 3-5 through: one tap at (1, 1),
 * which a 4x4 stride-1 'same' window places on the pixel itself. Every other
 * input (the other features, the label plane) keeps a scaled-down random weight.
 */
function setPassThrough(filter: Weight, bias: Weight): void {
  const [height, width, inputs, outputs] = filter.shape as [number, number, number, number];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let i = 0; i < inputs; i++) {
        for (let o = 0; o < outputs; o++) {
          const index = at(filter, y, x, i, o);
          if (i < 6) filter.values[index] = y === 1 && x === 1 && i % 3 === o ? (i < 3 ? 1 : -1) : 0;
          else filter.values[index]! *= newPathScale;
        }
      }
    }
  }
  bias.values.fill(0);
}
