import { parentPort } from 'node:worker_threads';
import { selectBackend } from '../backend/select-backend.js';
import { ExpressionModel } from '../model/expression-model.js';
import { editToFile } from './edit-to-file.js';
import type { PhotoWorkerReply, PhotoWorkerRequest } from './photo-pool.js';

/* A thread of a PhotoPool: its own backend, model and face detector; edits photos into files. */

const port = parentPort;
if (!port) throw new Error('photo-worker runs as a worker thread');
let model: ExpressionModel | undefined;

port.on('message', (request: PhotoWorkerRequest) => {
  void handle(request).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    reply({ type: 'error', ...(request.type === 'edit' ? { id: request.id } : {}), message });
  });
});

async function handle(request: PhotoWorkerRequest): Promise<void> {
  if (request.type === 'init') {
    // The calling thread edits photos too: one core per photo thread.
    await selectBackend(request.backend, { threads: 1 });
    model = await ExpressionModel.load(request.modelFile);
    reply({ type: 'ready' });
    return;
  }
  if (!model) throw new Error('photo worker used before it was ready');
  const faces = await editToFile(model, request.input, request.output, request.settings);
  reply({ type: 'edited', id: request.id, faces });
}

function reply(message: PhotoWorkerReply): void {
  port!.postMessage(message);
}
