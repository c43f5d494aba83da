import { InvalidArgumentError } from 'commander';
import {
  isModelSize,
  isPresetName,
  modelSizes,
  presetNames,
  type ModelSize,
  type PresetName,
} from '../core/model/presets.js';
import type { DatasetOptions } from '../core/training/dataset.js';

// Parsers of command-line values: a bad value fails with a clear message before any work starts.

/** A number parser that accepts what `valid` accepts and names the expectation otherwise. */
function numberArg(valid: (n: number) => boolean, expected: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !valid(n)) throw new InvalidArgumentError(`expected ${expected}`);
    return n;
  };
}
export const positiveInt = numberArg((n) => Number.isInteger(n) && n > 0, 'a positive integer');
export const nonNegativeInt = numberArg((n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
export const positiveNumber = numberArg((n) => Number.isFinite(n) && n > 0, 'a positive number');
export const finiteNumber = numberArg(Number.isFinite, 'a number');
export const probability = numberArg((n) => Number.isFinite(n) && n >= 0 && n <= 1, 'a number from 0 to 1');
export const nonNegativeNumber = numberArg((n) => Number.isFinite(n) && n >= 0, 'a non-negative number');

/** A fixed number of comma-separated values: three, one per training phase; two, one per direction. */
function listOf<T extends number[]>(count: T['length'], parse: (value: string) => number): (value: string) => T {
  return (value) => {
    const parts = value.split(',').map(parse);
    if (parts.length !== count) throw new InvalidArgumentError(`expected ${count} comma-separated values`);
    return parts as T;
  };
}
export const tripleInt = listOf<[number, number, number]>(3, nonNegativeInt);
export const tripleNumber = listOf<[number, number, number]>(3, nonNegativeNumber);
export const pairNumber = listOf<[number, number]>(2, nonNegativeNumber);

/** Two luma levels of a removal's handover (see HandoverLevels), the second above the first. */
export function handoverLevelsArg(value: string): [number, number] {
  const [low, high] = pairNumber(value);
  if (!(high > low)) throw new InvalidArgumentError('expected two levels, the second above the first (e.g. 20,50)');
  return [low, high];
}

/** A data command's `--images`, `--labels` and `--label` options. */
export interface LabelledFacesOptions {
  images: string;
  labels: string;
  label: string;
}

/** The labelled faces those options name, as the dataset reads them. */
export function labelledFaces(
  options: LabelledFacesOptions,
): Pick<DatasetOptions, 'imagesDir' | 'labelsCsv' | 'labelColumn'> {
  return { imagesDir: options.images, labelsCsv: options.labels, labelColumn: options.label };
}

/** `A,B,C`: column names of a labels CSV. */
export function columnNames(value: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => name === '')) throw new InvalidArgumentError('expected column names separated by commas');
  return names;
}

/** `COLUMN=VALUE`: a row filter on a labels CSV. */
export function columnEquals(value: string): { column: string; value: string } {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected COLUMN=VALUE');
  return { column: value.slice(0, at).trim(), value: value.slice(at + 1).trim() };
}

export function presetArg(value: string): PresetName {
  if (!isPresetName(value)) throw new InvalidArgumentError(`expected one of ${presetNames.join(', ')}`);
  return value;
}
export function sizeArg(value: string): ModelSize {
  const n = Number(value);
  if (!isModelSize(n)) throw new InvalidArgumentError(`expected one of ${modelSizes.join(', ')}`);
  return n;
}
export function sizeList(value: string): ModelSize[] {
  return value.split(',').map(sizeArg);
}
export function presetList(value: string): PresetName[] {
  return value.split(',').map(presetArg);
}
