import type { Worker } from 'node:worker_threads';
import type { BackendChoice } from '../backend/select-backend.js';
import { spawnWorker } from '../util/spawn-worker.js';
import type { EditSettings } from './edit-to-file.js';

/** Messages to a photo worker. */
export type PhotoWorkerRequest =
  | { type: 'init'; modelFile: string; backend: BackendChoice }
  | { type: 'edit'; id: number; input: string; output: string; settings: EditSettings };

/** Messages from a photo worker. */
export type PhotoWorkerReply =
  { type: 'ready' } | { type: 'edited'; id: number; faces: number } | { type: 'error'; id?: number; message: string };

type Pending = { resolve: (faces: number) => void; reject: (error: Error) => void };

/**
 * Worker threads that each edit whole photos with their own copy of the model
 * and face detector, on one core each: a batch on several threads finds faces,
 * decodes, edits and encodes photos side by side, where threads within one
 * operation would leave the rest of each photo's work on one core.
 */
export class PhotoPool {
  /** settles when every worker has loaded its model (rejects when one cannot) */
  readonly ready: Promise<void>;
  private next = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(
    private readonly workers: Worker[],
    modelFile: string,
    backend: BackendChoice,
  ) {
    this.ready = Promise.all(workers.map((worker) => ready(worker, modelFile, backend))).then(() => {
      for (const worker of workers) {
        worker.on('message', (reply: PhotoWorkerReply) => this.receive(reply));
        worker.on('error', (error) => this.failAll(error));
      }
    });
  }

  /** Starts the threads; they load their models in the background (see `ready`). */
  static start(threads: number, modelFile: string, backend: BackendChoice): PhotoPool {
    const workers = Array.from({ length: threads }, () => spawnWorker(import.meta.url, 'photo-worker'));
    return new PhotoPool(workers, modelFile, backend);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Edits one photo into `output` on the next worker in turn; resolves with the faces edited (0: none found). */
  edit(input: string, output: string, settings: EditSettings): Promise<number> {
    const worker = this.workers[this.next++ % this.workers.length]!;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'edit', id, input, output, settings } satisfies PhotoWorkerRequest);
    });
  }

  /** Ends the threads, also while they are still loading. */
  async close(): Promise<void> {
    this.ready.catch(() => undefined);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private receive(reply: PhotoWorkerReply): void {
    if (reply.type === 'ready' || reply.id === undefined) return;
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    if (reply.type === 'edited') waiting.resolve(reply.faces);
    else waiting.reject(new Error(reply.message));
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}

function ready(worker: Worker, modelFile: string, backend: BackendChoice): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.once('message', (reply: PhotoWorkerReply) =>
      reply.type === 'ready' ? resolve() : reject(new Error(reply.type === 'error' ? reply.message : 'bad reply')),
    );
    worker.once('error', reject);
    worker.postMessage({ type: 'init', modelFile, backend } satisfies PhotoWorkerRequest);
  });
}
