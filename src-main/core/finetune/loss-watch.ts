/**
 * Notices a fine-tune whose losses blow up while staying finite (the trainer
 * itself stops on NaN). A fine-tune starts from a trained model, so its
 * reconstruction loss starts low; several steps in a row far above the best
 * seen so far mean the weights are being destroyed, not tuned.
 */
export interface LossReading {
  step: number;
  reconstruction: number;
  adversarial: number;
  discriminator: number;
}

export interface LossWatchOptions {
  /** a step is bad when reconstruction exceeds this many times the best window seen (default 4) */
  factor?: number;
  /** and exceeds the best by at least this much, so tiny losses may wobble (default 0.05) */
  margin?: number;
  /** cross-entropies (chance is ln 2 = 0.69) above this are bad whatever came before (default 50) */
  crossEntropyLimit?: number;
  /** this many bad steps in a row stop the run (default 3) */
  patience?: number;
  /** steps averaged into one window of the baseline (default 5) */
  window?: number;
}

export class LossWatch {
  private best = Infinity;
  private windowSum = 0;
  private windowCount = 0;
  private badInARow = 0;
  private readonly options: Required<LossWatchOptions>;

  constructor(options: LossWatchOptions = {}) {
    this.options = { factor: 4, margin: 0.05, crossEntropyLimit: 50, patience: 3, window: 5, ...options };
  }

  /** Takes one step's losses; returns why the run must stop, or undefined while it is healthy. */
  observe(reading: LossReading): string | undefined {
    const { factor, margin, crossEntropyLimit, patience, window } = this.options;
    const crossEntropy = Math.max(reading.adversarial, reading.discriminator);
    const tooHigh =
      Number.isFinite(this.best) && reading.reconstruction > Math.max(this.best * factor, this.best + margin);
    const bad = tooHigh || crossEntropy > crossEntropyLimit;
    this.badInARow = bad ? this.badInARow + 1 : 0;
    if (!bad) this.addToBaseline(reading.reconstruction, window);
    if (this.badInARow < patience) return undefined;
    return crossEntropy > crossEntropyLimit
      ? `the adversarial losses exploded (${crossEntropy.toExponential(2)}) at step ${reading.step}`
      : `the reconstruction loss exploded at step ${reading.step} (${reading.reconstruction.toFixed(3)}, best ${this.best.toFixed(3)})`;
  }

  private addToBaseline(reconstruction: number, window: number): void {
    this.windowSum += reconstruction;
    this.windowCount++;
    if (this.windowCount === window) {
      this.best = Math.min(this.best, this.windowSum / window);
      this.windowSum = 0;
      this.windowCount = 0;
    }
  }
}
