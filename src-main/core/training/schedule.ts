import { z } from 'zod';

/**
 * What the expression loss's classifier reads: the face decoded with the
 * flipped label ('decode'), or the edit as the product makes it ('edit', see
 * productEdit): the face itself plus the change between the two decodes.
 */
export const expressionJudgedValues = ['decode', 'edit'] as const;
export type ExpressionJudged = (typeof expressionJudgedValues)[number];

/**
 * The paper's three phases: (1) autoencoder only, (2) a weak adversarial term,
 * (3) a stronger one; the learning rate is decayed after each phase.
 */
export const scheduleSchema = z.object({
  phaseSteps: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative(), z.number().int().nonnegative()]),
  mu: z.tuple([z.number().nonnegative(), z.number().nonnegative(), z.number().nonnegative()]),
  learningRate: z.number().positive(),
  /** factor applied to the learning rate at the start of each later phase */
  phaseDecay: z.number().positive(),
  beta1: z.number().min(0).max(1),
  beta2: z.number().min(0).max(1),
  /** steps over which mu ramps up linearly at the start of each phase (Fader ramps its lambda) */
  muRampSteps: z.number().int().nonnegative(),
  /**
   * Weight of the expression loss in each phase (see ExpressionClassifier); ramps
   * like mu. Absent in runs that never use it.
   */
  expressionWeight: z.tuple([z.number().nonnegative(), z.number().nonnegative(), z.number().nonnegative()]).optional(),
  /**
   * The classifier's logits are divided by this in the expression loss (1 when
   * absent). Above 1 the loss stays up until the classifier reads the flipped
   * label with a wider margin: a clear smile rather than a faint one.
   */
  expressionTemperature: z.number().positive().optional(),
  /** What the expression loss's classifier reads (see ExpressionJudged); 'decode' when absent. */
  expressionJudged: z.enum(expressionJudgedValues).optional(),
  /** Factors of the expression loss on smiles added and on smiles removed (both 1 when absent). */
  expressionDirections: z.object({ add: z.number().nonnegative(), remove: z.number().nonnegative() }).optional(),
  /**
   * Weight of the realism loss in each phase (see RealismCritic); ramps like
   * mu. Absent in runs that never use it.
   */
  realismWeight: z.tuple([z.number().nonnegative(), z.number().nonnegative(), z.number().nonnegative()]).optional(),
  /**
   * Weight of the mouth-focus penalty in each phase (see mouthFocusPenalty);
   * ramps like mu. Absent in runs that never use it.
   */
  mouthFocusWeight: z.tuple([z.number().nonnegative(), z.number().nonnegative(), z.number().nonnegative()]).optional(),
  /** the realism critic learns at the run's learning rate times this (1 when absent) */
  criticRateFactor: z.number().positive().optional(),
  /** the latent discriminator learns at the run's learning rate times this (1 when absent) */
  discriminatorRateFactor: z.number().positive().optional(),
  /** extra latent-discriminator updates per step on recent batches' codes (see DiscriminatorReplay); none when absent */
  discriminatorReplay: z
    .object({ steps: z.number().int().nonnegative(), memory: z.number().int().positive() })
    .optional(),
});
export type Schedule = z.infer<typeof scheduleSchema>;

/** The paper's mu values with Fader's Adam settings (the paper's lr 0.01 diverges with Adam). */
export const defaultSchedule: Schedule = {
  phaseSteps: [2000, 2000, 4000],
  mu: [0, 1e-4, 0.01],
  learningRate: 2e-4,
  phaseDecay: 0.1,
  beta1: 0.5,
  beta2: 0.999,
  muRampSteps: 0,
};

export interface PhaseState {
  /** 1, 2 or 3 */
  phase: 1 | 2 | 3;
  mu: number;
  expressionWeight: number;
  realismWeight: number;
  mouthFocusWeight: number;
  learningRate: number;
}

/** Whether any phase of the schedule uses the expression loss (and so needs a classifier). */
export function usesExpressionLoss(schedule: Schedule): boolean {
  return (schedule.expressionWeight ?? [0, 0, 0]).some((w) => w > 0);
}

/** Whether any phase of the schedule uses the realism loss (and so needs a critic). */
export function usesRealismLoss(schedule: Schedule): boolean {
  return (schedule.realismWeight ?? [0, 0, 0]).some((w) => w > 0);
}

export function totalSteps(schedule: Schedule): number {
  return schedule.phaseSteps[0] + schedule.phaseSteps[1] + schedule.phaseSteps[2];
}

/** Phase, adversarial weight and learning rate for a 0-based step. */
export function phaseAt(schedule: Schedule, step: number): PhaseState {
  let start = 0;
  for (let i = 0; i < 3; i++) {
    const length = schedule.phaseSteps[i]!;
    if (step < start + length || i === 2) {
      const intoPhase = step - start;
      const ramp = schedule.muRampSteps > 0 ? Math.min(1, (intoPhase + 1) / schedule.muRampSteps) : 1;
      const ramped = (weights: readonly number[]) => {
        const previous = i === 0 ? 0 : weights[i - 1]!;
        return previous + (weights[i]! - previous) * ramp;
      };
      return {
        phase: (i + 1) as 1 | 2 | 3,
        mu: ramped(schedule.mu),
        expressionWeight: ramped(schedule.expressionWeight ?? [0, 0, 0]),
        realismWeight: ramped(schedule.realismWeight ?? [0, 0, 0]),
        mouthFocusWeight: ramped(schedule.mouthFocusWeight ?? [0, 0, 0]),
        learningRate: schedule.learningRate * schedule.phaseDecay ** i,
      };
    }
    start += length;
  }
  throw new Error('unreachable');
}
