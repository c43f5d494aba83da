import { requestedBackend, selectBackend, type BackendReport } from '../core/backend/select-backend.js';
import type { RunControl, TrainingResult } from '../core/training/trainer.js';
import { formatSeconds, Reporter } from './reporter.js';

export type RunCommand = (work: (reporter: Reporter, backend: BackendReport) => Promise<void>) => Promise<void>;

/**
 * Makes the runner every command goes through: it selects the backend the
 * global options ask for and turns any failure into a clear message and exit code 1.
 */
export function commandRunner(globals: () => { json: boolean; backend?: string }): RunCommand {
  return async (work) => {
    const reporter = new Reporter(globals().json);
    try {
      const backend = await selectBackend(requestedBackend(globals().backend));
      await work(reporter, backend);
    } catch (error) {
      reporter.error(error);
      process.exitCode = 1;
    }
  };
}

export async function withCancel(
  work: (control: RunControl) => Promise<TrainingResult>,
  reporter: Reporter,
): Promise<TrainingResult> {
  const controller = new AbortController();
  const stop = () => {
    reporter.note('stopping after this step; saving a checkpoint...');
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await work({
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'data') reporter.progress('decoding images', event.loaded, event.total);
        if (event.type === 'ready') {
          reporter.note(
            `${event.images} images loaded, ${event.skipped} skipped${event.resumedFrom ? `; resuming at step ${event.resumedFrom}` : ''}`,
          );
        }
        if (event.type === 'classifier') {
          reporter.progress('training the expression classifier', event.step, event.totalSteps, {
            accuracy: event.accuracy.toFixed(2),
          });
        }
        if (event.type === 'progress') {
          reporter.progress('training', event.stepsDone, event.totalSteps, {
            phase: event.phase,
            mse: event.reconstruction.toFixed(4),
            ...(event.expression !== undefined ? { expr: event.expression.toFixed(3) } : {}),
            ...(event.realism !== undefined ? { real: event.realism.toFixed(3) } : {}),
            ...(event.critic !== undefined ? { critic: event.critic.toFixed(3) } : {}),
            'dis acc': event.discriminatorAccuracy.toFixed(2),
            'img/s': event.imagesPerSecond.toFixed(1),
            eta: formatSeconds(event.etaSeconds),
          });
        }
      },
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export function backendLine(backend: BackendReport): string {
  const skipped = backend.skipped.map((s) => `${s.choice}: ${s.reason}`).join('; ');
  return `backend: ${backend.label}${backend.forced ? ' (forced)' : ''}${skipped ? ` (not used: ${skipped})` : ''}`;
}
