import path from 'node:path';
import type { HoldoutFigures, ModelEntry, ProfileComparison } from '../contract/ipc-contract.js';
import type { ModelInfo } from '../core/library/model-library.js';

/**
 * A library model as the Models panel shows it: whether it is active, and for
 * a fine-tuned profile its figures next to its base's and which model that
 * base is (so the panel can roll back to it).
 */
export function modelEntry(info: ModelInfo, activeId: string | undefined, all: ModelInfo[]): ModelEntry {
  const { tunedFrom, ...rest } = info;
  const comparison = comparisonOf(info.metrics);
  return {
    ...rest,
    active: info.id === activeId,
    ...(comparison ? { comparison } : {}),
    ...(tunedFrom ? { tunedFrom: { name: tunedFrom.name, id: baseIdOf(tunedFrom, all) } } : {}),
  };
}

/**
 * A profile's metrics hold the tuned model's figures under plain names and the
 * base's under a `base` prefix, both measured on `holdoutFaces` faces (see
 * flatMetrics in core/finetune/profiles.ts). Other models have no comparison.
 */
export function comparisonOf(metrics: Record<string, number>): ProfileComparison | undefined {
  const faces = metrics['holdoutFaces'];
  if (faces === undefined) return undefined;
  const base = figures(metrics, 'base');
  const hasBase = Object.values(base).some((value) => value !== null);
  return { faces, base: hasBase ? base : null, tuned: figures(metrics, '') };
}

function figures(metrics: Record<string, number>, prefix: string): HoldoutFigures {
  const pick = (name: string) => metrics[prefix ? `${prefix}${name[0]!.toUpperCase()}${name.slice(1)}` : name] ?? null;
  return {
    expressionSuccess: pick('expressionSuccess'),
    identityDistance: pick('identityDistance'),
    psnr: pick('psnr'),
    mouthSharpnessKept: pick('mouthSharpnessKept'),
  };
}

/** The library id of a profile's base, when the library still holds it. */
function baseIdOf(from: NonNullable<ModelInfo['tunedFrom']>, all: ModelInfo[]): string | null {
  const byProfile = from.profileId ? all.find((m) => m.id === from.profileId) : undefined;
  const byFile = all.find((m) => path.resolve(m.file) === path.resolve(from.file));
  return (byProfile ?? byFile)?.id ?? null;
}
