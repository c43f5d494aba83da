import * as tf from '@tensorflow/tfjs';
import { ExpressionModel } from '../model/expression-model.js';
import type { ModelSize, PresetName } from '../model/presets.js';
import { StepRunner } from '../training/step.js';
import { GradientHelper } from '../training/gradient-helper.js';
import { currentBackend } from '../backend/select-backend.js';
import { mulberry } from '../util/random.js';
import { tidyValues } from '../util/tidy-values.js';

export interface BenchOptions {
  presets: PresetName[];
  sizes: ModelSize[];
  batchSize: number;
  /** timed repetitions after one warm-up (one face: at least 50, after a second of warm-up) */
  repeats: number;
  onEntry?: (entry: BenchEntry) => void;
}

export interface BenchEntry {
  preset: PresetName;
  size: ModelSize;
  batchSize: number;
  params: number;
  autoencoderParams: number;
  discriminatorParams: number;
  /** one full training step (autoencoder with adversarial term + discriminator), per image */
  trainMsPerImage: number;
  /** encode + decode at the training batch size, per image */
  forwardMsPerImage: number;
  /** encode + decode of a single image */
  inferMsPerImage: number;
  stepToForwardRatio: number;
  /** threads that computed each training step */
  trainThreads: number;
}

export interface BenchComparison {
  size: ModelSize;
  /** paper / Fader */
  paramsRatio: number;
  trainTimeRatio: number;
  inferTimeRatio: number;
  /** 1 - ratio, as the paper states its claims */
  fewerParams: number;
  lessTrainingTime: number;
}

export interface BenchReport {
  entries: BenchEntry[];
  comparisons: BenchComparison[];
}

export async function runBenchmark(options: BenchOptions): Promise<BenchReport> {
  const entries: BenchEntry[] = [];
  for (const size of options.sizes) {
    for (const preset of options.presets) {
      const entry = await benchOne(preset, size, options);
      entries.push(entry);
      options.onEntry?.(entry);
    }
  }
  return { entries, comparisons: compare(entries) };
}

async function benchOne(preset: PresetName, size: ModelSize, options: BenchOptions): Promise<BenchEntry> {
  const backend = currentBackend();
  if (!backend) throw new Error('select a backend before benchmarking');
  const model = ExpressionModel.create({ preset, size, attribute: 'smiling' });
  const helper = await GradientHelper.startIfUseful(model.config, backend);
  const stepper = new StepRunner(model.network, 0.5, 0.999, 2e-4, helper);
  const random = mulberry(size);
  const n = options.batchSize;
  const imageValues = Float32Array.from({ length: n * size * size * 3 }, () => random() * 2 - 1);
  const labelValues = Float32Array.from({ length: n }, (_, i) => i % 2);
  const batch = tf.tensor4d(imageValues, [n, size, size, 3]);
  const single = tf.tensor4d(imageValues.subarray(0, size * size * 3), [1, size, size, 3]);
  try {
    const counts = model.parameterCounts();
    // Three untimed runs before each timing: the first ones prepare weights, and training's also create Adam's state.
    const forwardMs = await time(options.repeats, () => tidyValues(() => model.predict(batch, labelValues)), 3);
    // One face takes a few milliseconds, and its first hundred or so runs are slower while V8
    // optimises tfjs' JavaScript (8-9 ms, then 5): warm up for a second, then take the median of many.
    const inferMs = await time(
      Math.max(50, options.repeats * 4),
      () => tidyValues(() => model.predict(single, [1])),
      10,
      1000,
    );
    const trainMs = await time(options.repeats, () => stepper.run(imageValues, labelValues, 1e-4, 2e-4), 3);
    return {
      preset,
      size,
      batchSize: n,
      params: counts.total,
      autoencoderParams: counts.autoencoder,
      discriminatorParams: counts.discriminator,
      trainMsPerImage: trainMs / n,
      forwardMsPerImage: forwardMs / n,
      inferMsPerImage: inferMs,
      stepToForwardRatio: trainMs / forwardMs,
      trainThreads: helper ? 2 : (backend.threads ?? 1),
    };
  } finally {
    tf.dispose([batch, single]);
    stepper.dispose();
    model.dispose();
  }
}

/**
 * Median wall time of `repeats` runs after at least `warmUps` untimed ones, and
 * at least `warmUpMs` of them (they also build caches and optimiser state).
 */
async function time(repeats: number, work: () => unknown, warmUps = 1, warmUpMs = 0): Promise<number> {
  const warmUpStart = performance.now();
  for (let i = 0; i < warmUps || performance.now() - warmUpStart < warmUpMs; i++) await work();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await work();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function compare(entries: BenchEntry[]): BenchComparison[] {
  const comparisons: BenchComparison[] = [];
  for (const paper of entries.filter((e) => e.preset === 'paper')) {
    const fader = entries.find((e) => e.preset === 'fader' && e.size === paper.size);
    if (!fader) continue;
    const paramsRatio = paper.params / fader.params;
    const trainTimeRatio = paper.trainMsPerImage / fader.trainMsPerImage;
    comparisons.push({
      size: paper.size,
      paramsRatio,
      trainTimeRatio,
      inferTimeRatio: paper.inferMsPerImage / fader.inferMsPerImage,
      fewerParams: 1 - paramsRatio,
      lessTrainingTime: 1 - trainTimeRatio,
    });
  }
  return comparisons;
}
