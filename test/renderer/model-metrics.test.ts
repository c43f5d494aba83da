import { describe, expect, it } from 'vitest';
import { describeMetrics } from '../../src-renderer/lib/model-metrics.js';

describe('describeMetrics', () => {
  it('turns an eval report into lines a user can read', () => {
    const { lines, faces } = describeMetrics({
      n: 300,
      smileOnSuccess: 0.584,
      smileOnCount: 154,
      smileOffSuccess: 0.479,
      smileOffCount: 146,
      identityDistanceMedian: 0.2754,
      identityKeptShare: 0.993,
      psnr: 22.278,
      ssim: 0.709,
      judgeAgreement: 0.893,
      smileOnCeiling: 0.849,
      smileOffCeiling: 0.935,
    });
    expect(faces).toBe(300);
    expect(lines).toEqual([
      {
        label: 'Smile added',
        value: '58.4%',
        detail:
          'of 154 neutral faces, as the expression classifier reads them; the judge reads 84.9% of real smiles that way',
      },
      {
        label: 'Smile removed',
        value: '47.9%',
        detail:
          'of 146 smiling faces, as the expression classifier reads them; the judge reads 93.5% of neutral faces that way',
      },
      { label: 'Identity kept', value: '99.3%', detail: 'face-descriptor distance under 0.45; median 0.275' },
      { label: 'Reconstruction', value: '22.3 dB', detail: 'with the true label; SSIM 0.709' },
      {
        label: 'Judge agreement',
        value: '89.3%',
        detail: 'how often the classifier agrees with the labels on unedited faces',
      },
    ]);
  });

  it("reads identity and the mouth's sharpness by direction of edit where the report has them", () => {
    const { lines } = describeMetrics({
      identityKeptShare: 0.957,
      identityDistanceMedian: 0.3246,
      identityKeptOn: 0.935,
      identityKeptOff: 0.979,
      mouthSharpnessKept: 0.947,
      mouthSharpnessMedian: 0.932,
      mouthSharpnessKeptOn: 0.935,
      mouthSharpnessKeptOff: 0.959,
    });
    expect(lines).toEqual([
      {
        label: 'Identity kept',
        value: '95.7%',
        detail: 'face-descriptor distance under 0.45; median 0.325 (93.5% of smiles added, 97.9% of smiles removed)',
      },
      {
        label: 'Mouth kept sharp',
        value: '94.7%',
        detail:
          "edits whose mouth keeps the photo's sharpness, which the classifier does not see; median 0.93 (93.5% of smiles added, 95.9% of smiles removed)",
      },
    ]);
  });

  it('lists figures it does not know under their own names, and leaves out parts that are missing', () => {
    const { lines, faces } = describeMetrics({ smileOnSuccess: 0.5, validationAccuracy: 0.75, steps: 1200 });
    expect(faces).toBeUndefined();
    expect(lines).toEqual([
      { label: 'Smile added', value: '50.0%', detail: 'as the expression classifier reads them' },
      { label: 'Validation accuracy', value: '75.0%' },
      { label: 'Steps', value: '1200' },
    ]);
  });
});
