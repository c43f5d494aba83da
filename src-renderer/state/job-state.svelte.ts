import type { JobEnd, JobProgress } from '../../src-main/contract/ipc-contract.js';

export type JobKind = JobProgress['kind'];

export interface JobView {
  jobId: string;
  kind: JobKind;
  /** what the user started, e.g. "Batch: Smile on 120 photos" */
  label: string;
  state: 'running' | JobEnd['state'];
  done: number;
  total: number;
  message: string;
  ratePerSecond: number;
  etaSeconds: number;
  summary: string;
  errors: JobEnd['errors'];
  files: string[];
  cancelling: boolean;
}

const kindLabels: Record<JobKind, string> = {
  batch: 'Batch',
  pairs: 'Before/after pairs',
  training: 'Training',
  faces: 'Finding faces',
  finetune: 'Fine-tune',
};

/**
 * Jobs as the main process reports them through job:progress and job:end.
 * Events may arrive before the reply that named the job, so they create the
 * job as well as `started` does.
 */
export class JobState {
  jobs = $state.raw<JobView[]>([]);

  readonly running = $derived(this.jobs.filter((job) => job.state === 'running'));
  /** what the status bar shows: the newest running job, else the newest job */
  readonly current = $derived(this.running.at(-1) ?? this.jobs.at(-1) ?? null);

  started(jobId: string, kind: JobKind, label: string): void {
    if (this.find(jobId)) this.update(jobId, { label });
    else this.jobs = [...this.jobs, this.blank(jobId, kind, label)];
  }

  progress(event: JobProgress): void {
    if (!this.find(event.jobId)) this.jobs = [...this.jobs, this.blank(event.jobId, event.kind)];
    const job = this.find(event.jobId)!;
    // A late progress event must not bring a finished job back to life.
    if (job.state !== 'running') return;
    this.update(event.jobId, {
      done: event.done,
      total: event.total,
      message: event.message,
      ratePerSecond: event.ratePerSecond,
      etaSeconds: event.etaSeconds,
    });
  }

  ended(event: JobEnd): void {
    if (!this.find(event.jobId)) this.jobs = [...this.jobs, this.blank(event.jobId, event.kind)];
    const job = this.find(event.jobId)!;
    this.update(event.jobId, {
      state: event.state,
      summary: event.summary,
      errors: event.errors,
      files: event.files,
      cancelling: false,
      done: event.state === 'done' ? Math.max(job.done, job.total) : job.done,
    });
  }

  cancelling(jobId: string): void {
    this.update(jobId, { cancelling: true });
  }

  find(jobId: string): JobView | undefined {
    return this.jobs.find((job) => job.jobId === jobId);
  }

  /** the newest job of a kind, for the panel that starts that kind */
  latestOf(kind: JobKind): JobView | null {
    return this.jobs.findLast((job) => job.kind === kind) ?? null;
  }

  dismiss(jobId: string): void {
    this.jobs = this.jobs.filter((job) => job.jobId !== jobId || job.state === 'running');
  }

  private blank(jobId: string, kind: JobKind, label = kindLabels[kind]): JobView {
    return {
      jobId,
      kind,
      label,
      state: 'running',
      done: 0,
      total: 0,
      message: '',
      ratePerSecond: 0,
      etaSeconds: 0,
      summary: '',
      errors: [],
      files: [],
      cancelling: false,
    };
  }

  private update(jobId: string, patch: Partial<JobView>): void {
    this.jobs = this.jobs.map((job) => (job.jobId === jobId ? { ...job, ...patch } : job));
  }
}

/** 0..1 for a progress bar; unknown totals read as 0. */
export function fractionDone(job: Pick<JobView, 'done' | 'total'>): number {
  return job.total > 0 ? Math.min(1, job.done / job.total) : 0;
}
