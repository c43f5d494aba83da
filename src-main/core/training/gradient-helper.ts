import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../util/spawn-worker.js';
import { computeThreads, type BackendChoice, type BackendReport } from '../backend/select-backend.js';
import type { ModelConfig } from '../model/presets.js';
import type { ExpressionSettings, GradientArrays, TrainedParts } from './gradients.js';

/** Messages to the helper thread. */
export type HelperRequest =
  | { type: 'init'; config: ModelConfig; backend: BackendChoice }
  | { type: 'classifier'; weights: Float32Array[]; settings: ExpressionSettings }
  | {
      type: 'gradients';
      id: number;
      weights: Float32Array[];
      images: Float32Array;
      labels: Float32Array;
      mu: number;
      trained: TrainedParts;
      expressionWeight: number;
      mouthFocusWeight: number;
      /** the realism critic's current weights and the loss's weight, in steps with a realism loss */
      critic?: CriticRequest;
    };

/** The critic learns every step, so each request carries its weights. */
export interface CriticRequest {
  weights: Float32Array[];
  weight: number;
}

/** Messages from the helper thread. */
export type HelperReply =
  | { type: 'ready' }
  | { type: 'gradients'; id: number; result: GradientArrays }
  | { type: 'error'; id?: number; message: string };

/**
 * A second thread with its own copy of the network that computes the gradients
 * of part of each batch, for the WebAssembly backend when its threaded build
 * cannot start and it runs on one core. Splitting each batch between two
 * threads then uses both, with the same result as one thread
 * (the parts' gradients are averaged by image count before one Adam update).
 */
export class GradientHelper {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: GradientArrays) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: HelperReply) => this.receive(reply));
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`gradient helper thread exited (${code})`)));
  }

  /**
   * Starts a helper when it can help: the WebAssembly backend running on one
   * thread, and a second core to use (MIEN_THREADS above 1 or unset).
   */
  static async startIfUseful(config: ModelConfig, backend: BackendReport): Promise<GradientHelper | undefined> {
    if (backend.choice !== 'wasm' || (backend.threads ?? 1) > 1 || computeThreads() < 2) return undefined;
    return GradientHelper.start(config, backend.choice);
  }

  /** Starts a helper thread on the given backend and waits until it is ready. */
  static async start(config: ModelConfig, backend: BackendChoice): Promise<GradientHelper> {
    const helper = new GradientHelper(spawnWorker(import.meta.url, 'gradient-worker'));
    await new Promise<void>((resolve, reject) => {
      helper.worker.once('message', (reply: HelperReply) =>
        reply.type === 'ready' ? resolve() : reject(new Error(reply.type === 'error' ? reply.message : 'bad reply')),
      );
      helper.worker.once('error', reject);
      helper.post({ type: 'init', config, backend });
    });
    return helper;
  }

  gradients(
    weights: Float32Array[],
    images: Float32Array,
    labels: Float32Array,
    mu: number,
    trained: TrainedParts = 'all',
    expressionWeight = 0,
    critic?: CriticRequest,
    mouthFocusWeight = 0,
  ): Promise<GradientArrays> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const request: HelperRequest = {
      type: 'gradients',
      id,
      weights,
      images,
      labels,
      mu,
      trained,
      expressionWeight,
      mouthFocusWeight,
      ...(critic ? { critic } : {}),
    };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // The critic's weights are copied, not moved: this thread's critic goes on using its arrays.
      this.post(request, [
        ...weights.map((w) => w.buffer as ArrayBuffer),
        images.buffer as ArrayBuffer,
        labels.buffer as ArrayBuffer,
      ]);
    });
  }

  /**
   * The frozen expression classifier's weights, in its variable order, and how
   * the loss reads the edits; messages arrive in order, so no reply.
   */
  useClassifier(weights: Float32Array[], settings: ExpressionSettings): void {
    this.post({ type: 'classifier', weights, settings });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('gradient helper closed');
    await this.worker.terminate();
  }

  private post(request: HelperRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(request, transfer);
  }

  private receive(reply: HelperReply): void {
    if (reply.type === 'ready' || reply.id === undefined) return;
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    if (reply.type === 'gradients') waiting.resolve(reply.result);
    else waiting.reject(new Error(`gradient helper: ${reply.message}`));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}
