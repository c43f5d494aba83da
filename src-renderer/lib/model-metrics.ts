/** One line of a model's evaluation, in words: "Smile added · 58.4% · of 154 neutral test faces…". */
export interface MetricLine {
  label: string;
  value: string;
  detail?: string;
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

/**
 * The figures `mien eval` recorded with a model (see EvalReport), as lines a
 * user can read. Figures that belong together (a success rate, the faces it was
 * measured on, what the judge can confirm) make one line; figures this
 * version does not know are listed under their own names.
 */
export function describeMetrics(metrics: Record<string, number>): { lines: MetricLine[]; faces?: number } {
  const left = new Map(Object.entries(metrics));
  const take = (name: string): number | undefined => {
    const value = left.get(name);
    left.delete(name);
    return value;
  };
  const lines: MetricLine[] = [];
  const faces = take('n');

  const direction = (success: string, count: string, ceiling: string, label: string, asked: string, real: string) => {
    const share = take(success);
    const n = take(count);
    const bound = take(ceiling);
    if (share === undefined) return;
    const of = n === undefined ? '' : `of ${n} ${asked} faces, `;
    const judge = bound === undefined ? '' : `; the judge reads ${percent(bound)} of ${real} that way`;
    lines.push({ label, value: percent(share), detail: `${of}as the expression classifier reads them${judge}` });
  };
  direction('smileOnSuccess', 'smileOnCount', 'smileOnCeiling', 'Smile added', 'neutral', 'real smiles');
  direction('smileOffSuccess', 'smileOffCount', 'smileOffCeiling', 'Smile removed', 'smiling', 'neutral faces');

  const kept = take('identityKeptShare');
  const median = take('identityDistanceMedian');
  const keptByDirection = byDirection(take('identityKeptOn'), take('identityKeptOff'));
  if (kept !== undefined) {
    const detail = `face-descriptor distance under 0.45${median === undefined ? '' : `; median ${median.toFixed(3)}`}`;
    lines.push({ label: 'Identity kept', value: percent(kept), detail: detail + keptByDirection });
  } else if (median !== undefined) {
    lines.push({ label: 'Identity distance', value: median.toFixed(3), detail: 'median, lower is better' });
  }

  const psnr = take('psnr');
  const ssim = take('ssim');
  if (psnr !== undefined) {
    const detail = `with the true label${ssim === undefined ? '' : `; SSIM ${ssim.toFixed(3)}`}`;
    lines.push({ label: 'Reconstruction', value: `${psnr.toFixed(1)} dB`, detail });
  }

  const sharp = take('mouthSharpnessKept');
  const sharpMedian = take('mouthSharpnessMedian');
  const sharpByDirection = byDirection(take('mouthSharpnessKeptOn'), take('mouthSharpnessKeptOff'));
  if (sharp !== undefined) {
    const medianText = sharpMedian === undefined ? '' : `; median ${sharpMedian.toFixed(2)}`;
    const detail = `edits whose mouth keeps the photo's sharpness, which the classifier does not see${medianText}`;
    lines.push({ label: 'Mouth kept sharp', value: percent(sharp), detail: detail + sharpByDirection });
  }

  const agreement = take('judgeAgreement');
  if (agreement !== undefined) {
    lines.push({
      label: 'Judge agreement',
      value: percent(agreement),
      detail: 'how often the classifier agrees with the labels on unedited faces',
    });
  }

  for (const [name, value] of left) lines.push({ label: humanName(name), value: formatFigure(name, value) });
  return faces === undefined ? { lines } : { lines, faces };
}

/** " (93.5% of smiles added, 97.9% of smiles removed)" where both are known */
function byDirection(added: number | undefined, removed: number | undefined): string {
  if (added === undefined || removed === undefined) return '';
  return ` (${percent(added)} of smiles added, ${percent(removed)} of smiles removed)`;
}

/** "identityKeptShare" → "Identity kept share" */
function humanName(name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1).toLowerCase();
}

/** Rates read as percentages; other figures as they are. */
function formatFigure(name: string, value: number): string {
  if (/rate|success|accuracy|share|ssim/i.test(name) && value >= 0 && value <= 1) return percent(value);
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}
