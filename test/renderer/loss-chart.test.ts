import { describe, expect, test } from 'vitest';
import type { LossPoint } from '../../src-main/contract/ipc-contract.js';
import { phaseCharts } from '../../src-renderer/lib/loss-chart.js';

const point = (step: number, phase: number, reconstruction: number, adversarial = 0.7): LossPoint => ({
  step,
  phase,
  reconstruction,
  adversarial,
  discriminator: 0.69,
  discriminatorAccuracy: 0.5,
});
const box = { width: 110, height: 60, padding: 5 };

describe('phaseCharts', () => {
  test('one chart per phase, each line scaled to its own range', () => {
    const charts = phaseCharts([point(1, 1, 0.3), point(2, 1, 0.1), point(3, 1, 0.2), point(4, 2, 0.05)], box);
    expect(charts.map((c) => [c.phase, c.firstStep, c.lastStep])).toEqual([
      [1, 1, 3],
      [2, 4, 4],
    ]);
    const reconstruction = charts[0]!.lines.find((l) => l.series === 'reconstruction')!;
    // The highest loss at the top, the lowest at the bottom, across the inner width.
    expect(reconstruction.path).toBe('M5,5 L55,55 L105,30');
    expect(reconstruction).toMatchObject({ latest: 0.2, min: 0.1, max: 0.3 });
    // A flat line (or a single point) sits in the middle.
    expect(charts[0]!.lines.find((l) => l.series === 'adversarial')!.path).toBe('M5,30 L55,30 L105,30');
    expect(charts[1]!.lines[0]!.path).toBe('M55,30');
    expect(charts[1]!.lines[0]!.end).toEqual({ x: 55, y: 30 });
    expect(reconstruction.end).toEqual({ x: 105, y: 30 });
  });

  test('points arriving out of order are sorted; long runs are thinned but keep the last point', () => {
    const charts = phaseCharts([point(2, 1, 0.2), point(1, 1, 0.1)], box);
    expect(charts[0]!.firstStep).toBe(1);
    const long = Array.from({ length: 1000 }, (_, i) => point(i + 1, 1, 1 / (i + 1)));
    const [chart] = phaseCharts(long, box);
    const drawn = chart!.lines[0]!.path.split(' ').length;
    expect(drawn).toBeLessThanOrEqual(201);
    expect(chart!.lastStep).toBe(1000);
  });

  test('no points, no charts', () => {
    expect(phaseCharts([], box)).toEqual([]);
  });
});
