import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './compute-protocol.js';
import { ComputeService, type ComputeProgress } from './compute-service.js';

/*
 * The compute worker: a thread the main process owns that runs the model, the
 * face detector and every long job, so the main event loop stays free. Calls
 * arrive as messages; jobs report progress as they go. Calls run concurrently:
 * a cancel reaches a running batch.
 */

const port = parentPort;
if (!port) throw new Error('compute-worker runs as a worker thread');
const service = new ComputeService();

port.on('message', (message: ToWorker) => {
  void answer(message);
});

async function answer({ id, method, args }: ToWorker): Promise<void> {
  try {
    const value = await call(method, args);
    // The preview's JPEG is handed over, not copied.
    const transfer =
      value instanceof Object && 'image' in value && value.image instanceof Uint8Array
        ? [value.image.buffer as ArrayBuffer]
        : [];
    post({ type: 'result', id, value }, transfer);
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    post({ type: 'error', id, message: failure.message, name: failure.name });
  }
}

function call(method: ToWorker['method'], args: unknown[]): Promise<unknown> | unknown {
  const progress = (jobId: string) => (p: ComputeProgress) => post({ type: 'progress', jobId, progress: p });
  const a = args as never[];
  switch (method) {
    case 'init':
      return service.init(a[0]!);
    case 'loadModel':
      return service.loadModel(a[0]!);
    case 'faces':
      return service.faces(a[0]!);
    case 'preview':
      return service.preview(a[0]!, a[1]!, a[2]!, a[3]);
    case 'exportPhoto':
      return service.exportPhoto(a[0]!, a[1]!, a[2]!, a[3]!);
    case 'batch':
      return service.batch(a[0]!, a[1]!, progress(a[0]!));
    case 'pairs':
      return service.pairs(a[0]!, a[1]!, progress(a[0]!));
    case 'collectFaces':
      return service.collectFaces(a[0]!, a[1]!, progress(a[0]!));
    case 'finetune':
      return service.finetune(a[0]!, a[1]!, progress(a[0]!), (update) => {
        // Preview images are handed over, not copied.
        const transfer = update.type === 'preview' ? [update.png.buffer as ArrayBuffer] : [];
        post({ type: 'update', jobId: a[0]!, update }, transfer);
      });
    case 'cancel':
      return service.cancel(a[0]!);
  }
}

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}
