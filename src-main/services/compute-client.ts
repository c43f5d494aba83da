import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../core/util/spawn-worker.js';
import type { ComputeProgress } from '../worker/compute-service.js';
import type { FinetuneUpdate } from '../worker/finetune-jobs.js';
import type {
  ComputeArgs,
  ComputeMethod,
  ComputeResult,
  FromWorker,
  JobMethod,
  ToWorker,
} from '../worker/compute-protocol.js';

/** A call that does not wait for the worker's setup (the setup itself makes these). */
export type DirectCall = <M extends Exclude<ComputeMethod, JobMethod>>(
  method: M,
  ...args: ComputeArgs<M>
) => Promise<ComputeResult<M>>;

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

/** An error raised in the worker, with its message and kind kept. */
export class ComputeError extends Error {
  constructor(message: string, kind: string) {
    super(message);
    this.name = kind;
  }
}

/** The worker died (or was replaced) with the call still in flight; the next call starts a fresh one. */
export class ComputeWorkerStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComputeWorkerStopped';
  }
}

/**
 * The main process's handle on the compute worker thread. A worker that dies
 * (out of memory, a crash in native code) fails the calls in flight with a
 * clear message and is started afresh, with the same backend and model, on
 * the next call.
 */
export class ComputeClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly progressListeners = new Map<string, (progress: ComputeProgress) => void>();
  private readonly updateListeners = new Map<string, (update: FinetuneUpdate) => void>();
  private setup: ((direct: DirectCall) => Promise<void>) | undefined;
  private closed = false;

  /** `setup` runs on every fresh worker before other calls (backend, model); it calls through `direct`. */
  onStart(setup: (direct: DirectCall) => Promise<void>): void {
    this.setup = setup;
  }

  async call<M extends Exclude<ComputeMethod, JobMethod>>(
    method: M,
    ...args: ComputeArgs<M>
  ): Promise<ComputeResult<M>> {
    await this.ensureStarted();
    return this.send(method, args) as Promise<ComputeResult<M>>;
  }

  /** Runs a job, passing its progress to `onProgress` (and a fine-tune's updates to `onUpdate`) until it ends. */
  async job<M extends JobMethod>(
    method: M,
    args: ComputeArgs<M>,
    onProgress: (progress: ComputeProgress) => void,
    onUpdate?: (update: FinetuneUpdate) => void,
  ): Promise<ComputeResult<M>> {
    await this.ensureStarted();
    const jobId = args[0];
    this.progressListeners.set(jobId, onProgress);
    if (onUpdate) this.updateListeners.set(jobId, onUpdate);
    try {
      return (await this.send(method, args)) as ComputeResult<M>;
    } finally {
      this.progressListeners.delete(jobId);
      this.updateListeners.delete(jobId);
    }
  }

  /** Starts the worker (if it is not running) and waits for its setup. */
  ready(): Promise<void> {
    return this.ensureStarted();
  }

  /** Replaces the worker with a fresh one (e.g. to apply another backend); jobs in flight fail. */
  async restart(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) {
      this.stoppedWith(new ComputeWorkerStoppedError('the compute worker was restarted'));
      await worker.terminate();
    }
    await this.ensureStarted();
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private starting: Promise<void> | undefined;

  private ensureStarted(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the compute worker is closed'));
    if (this.worker) return this.starting ?? Promise.resolve();
    const worker = spawnWorker(new URL('../worker/', import.meta.url).href, 'compute-worker');
    this.worker = worker;
    worker.on('message', (message: FromWorker) => this.receive(message));
    // A crash reports 'error' and then 'exit', a terminated thread 'exit' alone: the first one fails the calls.
    worker.on('error', (error) => this.stopped(worker, `the compute worker stopped (${error.message})`));
    worker.on('exit', (code) => this.stopped(worker, `the compute worker stopped (exit code ${code})`));
    const direct: DirectCall = (method, ...args) => this.send(method, args) as never;
    this.starting = this.setup?.(direct).finally(() => (this.starting = undefined));
    return this.starting ?? Promise.resolve();
  }

  private send(method: ComputeMethod, args: unknown[]): Promise<unknown> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error('the compute worker is not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'call', id, method, args } satisfies ToWorker);
    });
  }

  private receive(message: FromWorker): void {
    if (message.type === 'progress') {
      this.progressListeners.get(message.jobId)?.(message.progress);
      return;
    }
    if (message.type === 'update') {
      this.updateListeners.get(message.jobId)?.(message.update);
      return;
    }
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (message.type === 'result') waiting.resolve(message.value);
    else waiting.reject(new ComputeError(message.message, message.name));
  }

  private stopped(worker: Worker, message: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.stoppedWith(new ComputeWorkerStoppedError(message));
  }

  private stoppedWith(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}
