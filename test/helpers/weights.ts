import type { ExpressionModel } from '../../src-main/core/model/expression-model.js';
import { largestDifference } from './arrays.js';

/**
 * How far `update` moves the model's weights: the largest change of any
 * discriminator weight, and of any encoder weight.
 */
export async function partsMoved(
  model: ExpressionModel,
  update: () => Promise<unknown>,
): Promise<{ discriminator: number; autoencoder: number }> {
  const weights = () => new Map(model.network.exportWeights().map((w) => [w.name, Float32Array.from(w.values)]));
  const before = weights();
  await update();
  const after = weights();
  const change = (prefix: string) =>
    Math.max(
      ...[...before]
        .filter(([name]) => name.startsWith(prefix))
        .map(([name, values]) => largestDifference(after.get(name)!, values)),
    );
  return { discriminator: change('discriminator.'), autoencoder: change('encoder.') };
}
