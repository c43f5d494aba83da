import type { ComputeProgress, ComputeService } from './compute-service.js';
import type { FinetuneUpdate } from './finetune-jobs.js';

/** Methods that run as jobs: they take a job id first and report progress on the side. */
export type JobMethod = 'batch' | 'pairs' | 'collectFaces' | 'finetune';

/** The service methods the main process calls in the worker (jobs report progress on the side). */
export type ComputeMethod = 'init' | 'loadModel' | 'faces' | 'preview' | 'exportPhoto' | 'cancel' | JobMethod;

/** Arguments of a method as sent; a job's progress callbacks stay in the worker. */
export type ComputeArgs<M extends ComputeMethod> = M extends JobMethod
  ? [jobId: string, options: Parameters<ComputeService[M]>[1]]
  : Parameters<ComputeService[M]>;

export type ComputeResult<M extends ComputeMethod> = Awaited<ReturnType<ComputeService[M]>>;

export type ToWorker = { type: 'call'; id: number; method: ComputeMethod; args: unknown[] };

export type FromWorker =
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; message: string; name: string }
  | { type: 'progress'; jobId: string; progress: ComputeProgress }
  | { type: 'update'; jobId: string; update: FinetuneUpdate };
