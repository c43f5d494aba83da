/** The two architectures the product knows and the sizes it trains. */
export const presetNames = ['paper', 'fader'] as const;
export type PresetName = (typeof presetNames)[number];

export const modelSizes = [64, 128, 256] as const;
export type ModelSize = (typeof modelSizes)[number];

export interface ModelConfig {
  preset: PresetName;
  /** square input and output size in pixels */
  size: ModelSize;
  /** the label column the model conditions on, e.g. "smiling" */
  attribute: string;
}

export const presetDescriptions: Record<PresetName, string> = {
  paper:
    'Lightweight Fader variant: conv encoder without batch norm, nearest-upsample + conv decoder, 3-layer dense latent discriminator',
  fader:
    'Fader Networks (Lample et al. 2017): batch norm, transposed-conv decoder, one-hot attribute maps, conv + dense latent discriminator',
};

export function isPresetName(value: string): value is PresetName {
  return (presetNames as readonly string[]).includes(value);
}

export function isModelSize(value: number): value is ModelSize {
  return (modelSizes as readonly number[]).includes(value);
}

/** Layer widths of a preset at a size (see docs/model.md for why these numbers). */
export interface Architecture {
  /** output channels of each stride-2 encoder convolution */
  encoderChannels: number[];
  /** output channels of each decoder stage (the last is 3, RGB) */
  decoderChannels: number[];
  /** spatial side and channels of the latent z */
  latentSide: number;
  latentChannels: number;
  /** label feature maps appended at every decoder stage */
  labelPlanes: number;
  batchNorm: boolean;
}

export function architectureOf(config: Pick<ModelConfig, 'preset' | 'size'>): Architecture {
  const levels = Math.log2(config.size);
  if (config.preset === 'paper') {
    // 7 layers (8..512) at 256 px; drop the highest-resolution layers below that,
    // so the latent is always 2x2x512 and the discriminator never changes.
    const layers = levels - 1;
    const encoderChannels = Array.from({ length: layers }, (_, i) => 512 / 2 ** (layers - 1 - i));
    return {
      encoderChannels,
      decoderChannels: [...encoderChannels.slice(0, -1).reverse(), 3],
      latentSide: 2,
      latentChannels: 512,
      labelPlanes: 1,
      batchNorm: false,
    };
  }
  // Fader's reference defaults: init_fm 32, max_fm 512 and 6 layers at 256 px
  // (a 4x4 latent); smaller sizes keep the 4x4 latent with fewer layers.
  const layers = levels - 2;
  const encoderChannels = Array.from({ length: layers }, (_, i) => Math.min(32 * 2 ** i, 512));
  return {
    encoderChannels,
    decoderChannels: [...encoderChannels.slice(0, -1).reverse(), 3],
    latentSide: 4,
    latentChannels: encoderChannels[layers - 1]!,
    labelPlanes: 2,
    batchNorm: true,
  };
}
