import * as tf from '@tensorflow/tfjs';
import type { NamedArray } from '../model/checkpoint.js';
import { mulberry } from '../util/random.js';

/**
 * The base of the small auxiliary networks of a training run (the expression
 * classifier, the realism critic): their named weights, seeded initialisation,
 * lookup, and the copies that go into checkpoints and across threads. Variables keep
 * tfjs' automatic names, so two copies can live in one thread.
 */
export class WeightSet {
  private readonly entries: { name: string; variable: tf.Variable }[] = [];
  private readonly random: () => number;

  constructor(
    /** prefix of the weights' names in a training checkpoint */
    private readonly prefix: string,
    seed: number,
  ) {
    this.random = mulberry(seed);
  }

  /** A weight drawn uniformly from +-1/sqrt(fanIn) (PyTorch's default for conv and dense layers). */
  protected addUniform(name: string, shape: number[], fanIn: number): void {
    const bound = 1 / Math.sqrt(fanIn);
    const size = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: size }, () => (this.random() * 2 - 1) * bound);
    const value = tf.tensor(values, shape);
    this.entries.push({ name, variable: tf.variable(value, true) });
    value.dispose();
  }

  protected get(name: string): tf.Variable {
    const found = this.entries.find((v) => v.name === name);
    if (!found) throw new Error(`Missing weight ${this.prefix}${name}`);
    return found.variable;
  }

  variables(): tf.Variable[] {
    return this.entries.map((v) => v.variable);
  }

  exportWeights(): NamedArray[] {
    return this.entries.map((v) => ({
      name: this.prefix + v.name,
      shape: v.variable.shape,
      values: v.variable.dataSync() as Float32Array,
    }));
  }

  /** The weights' values alone, in variable order (to cross threads). */
  exportArrays(): Float32Array[] {
    return this.entries.map((v) => v.variable.dataSync() as Float32Array);
  }

  /** Loads values in the order exportArrays gives them. */
  importArrays(values: Float32Array[]): void {
    this.entries.forEach((v, i) => tf.tidy(() => v.variable.assign(tf.tensor(values[i]!, v.variable.shape))));
  }

  /** True when `tensors` holds every weight with the right shape; they are then loaded. */
  importWeights(tensors: Map<string, NamedArray>): boolean {
    const found = this.entries.map((v) => tensors.get(this.prefix + v.name));
    if (found.some((t, i) => !t || t.shape.join('x') !== this.entries[i]!.variable.shape.join('x'))) return false;
    this.importArrays(found.map((t) => t!.values));
    return true;
  }

  dispose(): void {
    for (const v of this.entries) v.variable.dispose();
    this.entries.length = 0;
  }
}
