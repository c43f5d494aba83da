import { describe, expect, test } from 'vitest';
import type { JobEnd, JobProgress } from '../../src-main/contract/ipc-contract.js';
import { formatDuration, formatRate } from '../../src-renderer/lib/format.js';
import { JobState, fractionDone } from '../../src-renderer/state/job-state.svelte.js';

const progress = (fields: Partial<JobProgress>): JobProgress => ({
  jobId: 'job-1',
  kind: 'batch',
  done: 0,
  total: 10,
  message: '',
  ratePerSecond: 0,
  etaSeconds: 0,
  ...fields,
});

const end = (fields: Partial<JobEnd>): JobEnd => ({
  jobId: 'job-1',
  kind: 'batch',
  state: 'done',
  summary: '10 photos written',
  errors: [],
  files: [],
  ...fields,
});

describe('JobState', () => {
  test('progress events update the job; the end event brings the summary and per-file errors', () => {
    const jobs = new JobState();
    jobs.started('job-1', 'batch', 'Batch: Smile on holiday');
    jobs.progress(progress({ done: 4, message: 'c.jpg', ratePerSecond: 2, etaSeconds: 3 }));
    expect(jobs.current).toMatchObject({ label: 'Batch: Smile on holiday', done: 4, total: 10, state: 'running' });
    expect(fractionDone(jobs.current!)).toBe(0.4);

    const errors = [{ file: '/p/broken.jpg', error: 'not an image' }];
    jobs.ended(end({ summary: '9 written, 1 failed', errors, files: ['/out/a.jpg'] }));
    expect(jobs.running).toEqual([]);
    expect(jobs.current).toMatchObject({ state: 'done', summary: '9 written, 1 failed', errors, done: 10 });
  });

  test('events before the start reply create the job, and the label follows later', () => {
    const jobs = new JobState();
    jobs.progress(progress({ jobId: 'early', kind: 'pairs', done: 1, total: 2 }));
    expect(jobs.find('early')).toMatchObject({ label: 'Before/after pairs', done: 1 });
    jobs.started('early', 'pairs', 'Before/after pairs of 2 photo(s)');
    expect(jobs.find('early')).toMatchObject({ label: 'Before/after pairs of 2 photo(s)', done: 1 });
  });

  test('a late progress event does not revive a finished job', () => {
    const jobs = new JobState();
    jobs.started('job-1', 'batch', 'Batch');
    jobs.cancelling('job-1');
    jobs.ended(end({ state: 'cancelled', summary: 'Cancelled after 3' }));
    jobs.progress(progress({ done: 5 }));
    expect(jobs.find('job-1')).toMatchObject({ state: 'cancelled', done: 0, cancelling: false });
  });

  test('the newest running job is current; latestOf picks per kind; dismiss keeps running jobs', () => {
    const jobs = new JobState();
    jobs.started('a', 'batch', 'A');
    jobs.started('b', 'pairs', 'B');
    jobs.ended(end({ jobId: 'b', kind: 'pairs' }));
    expect(jobs.current!.jobId).toBe('a');
    expect(jobs.latestOf('pairs')!.jobId).toBe('b');
    jobs.dismiss('a');
    jobs.dismiss('b');
    expect(jobs.jobs.map((j) => j.jobId)).toEqual(['a']);
  });

  test('rates and times read naturally', () => {
    expect(formatDuration(12.4)).toBe('12 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3725)).toBe('1 h 02 min');
    expect(formatDuration(0)).toBe('—');
    expect(formatRate(2.34)).toBe('2.3 photos/s');
    expect(formatRate(0.25)).toBe('15.0 photos/min');
    expect(fractionDone({ done: 3, total: 0 })).toBe(0);
  });
});
