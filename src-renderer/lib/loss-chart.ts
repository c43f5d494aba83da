import type { LossPoint } from '../../src-main/contract/ipc-contract.js';

export type LossSeries = 'reconstruction' | 'adversarial';

export interface ChartLine {
  series: LossSeries;
  /** SVG path data in the chart's own coordinates */
  path: string;
  /** where the newest value is drawn (marked, so a line of one point still shows) */
  end: { x: number; y: number };
  /** the newest value, for the legend */
  latest: number;
  min: number;
  max: number;
}

export interface PhaseChart {
  phase: number;
  firstStep: number;
  lastStep: number;
  lines: ChartLine[];
}

export interface ChartBox {
  width: number;
  height: number;
  /** room kept free around the lines */
  padding: number;
}

const series: LossSeries[] = ['reconstruction', 'adversarial'];
/** more points than this per line add nothing a small chart can show */
const maxPointsPerLine = 200;

/**
 * One small chart per training phase: the reconstruction and the adversarial
 * loss over that phase's steps, each scaled to its own range (their sizes
 * differ by orders of magnitude), as SVG paths.
 */
export function phaseCharts(points: LossPoint[], box: ChartBox): PhaseChart[] {
  const phases = new Map<number, LossPoint[]>();
  for (const point of points) {
    if (!phases.has(point.phase)) phases.set(point.phase, []);
    phases.get(point.phase)!.push(point);
  }
  return [...phases.entries()]
    .sort(([a], [b]) => a - b)
    .map(([phase, inPhase]) => {
      const sorted = thin(
        [...inPhase].sort((a, b) => a.step - b.step),
        maxPointsPerLine,
      );
      return {
        phase,
        firstStep: sorted[0]!.step,
        lastStep: sorted.at(-1)!.step,
        lines: series.map((name) => line(sorted, name, box)),
      };
    });
}

function line(points: LossPoint[], name: LossSeries, box: ChartBox): ChartLine {
  const values = points.map((p) => p[name]);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const first = points[0]!.step;
  const last = points.at(-1)!.step;
  const innerWidth = box.width - 2 * box.padding;
  const innerHeight = box.height - 2 * box.padding;
  const x = (step: number) =>
    box.padding + (last === first ? innerWidth / 2 : ((step - first) / (last - first)) * innerWidth);
  // Larger losses higher up; a flat line sits in the middle.
  const y = (value: number) =>
    box.padding + (max === min ? innerHeight / 2 : (1 - (value - min) / (max - min)) * innerHeight);
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${round(x(p.step))},${round(y(p[name]))}`).join(' ');
  const newest = points.at(-1)!;
  return {
    series: name,
    path,
    end: { x: round(x(newest.step)), y: round(y(newest[name])) },
    latest: values.at(-1)!,
    min,
    max,
  };
}

/** Every n-th point so at most `limit` remain, always keeping the last. */
function thin(points: LossPoint[], limit: number): LossPoint[] {
  if (points.length <= limit) return points;
  const every = Math.ceil(points.length / limit);
  const kept = points.filter((_, i) => i % every === 0);
  if (kept.at(-1) !== points.at(-1)) kept.push(points.at(-1)!);
  return kept;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
