import path from 'node:path';
import { defaultSchedule } from '../../src-main/core/training/schedule.js';
import type { RunSettings } from '../../src-main/core/training/trainer.js';

/** The real CelebA subset beside the repository (never copied into it). */
export const facesDir = path.resolve(process.cwd(), '../shared/data/faces');
export const faceImages = path.join(facesDir, 'images');
export const faceLabels = path.join(facesDir, 'labels.csv');

/** A small, fast run on real faces. */
export function smallRun(overrides: Partial<RunSettings> = {}): RunSettings {
  return {
    model: { preset: 'paper', size: 64, attribute: 'smiling' },
    data: { imagesDir: faceImages, labelsCsv: faceLabels, labelColumn: 'smiling', split: 'train', limit: 96 },
    schedule: { ...defaultSchedule, phaseSteps: [4, 3, 3], learningRate: 5e-4 },
    batchSize: 8,
    checkpointEvery: 2,
    logEvery: 2,
    seed: 3,
    augmentation: { flip: true, brightness: 0.1 },
    ...overrides,
  };
}
