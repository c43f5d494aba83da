// The helper thread of GradientHelper: a copy of the network that computes gradients on request.
import { parentPort } from 'node:worker_threads';
import { selectBackend } from '../backend/select-backend.js';
import { ExpressionNetwork } from '../model/network.js';
import type { HelperReply, HelperRequest } from './gradient-helper.js';
import { computeGradients, disposeGradients, gradientArrays } from './gradients.js';

const port = parentPort;
if (!port) throw new Error('gradient-worker runs only as a worker thread');

let network: ExpressionNetwork | undefined;

function reply(message: HelperReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

port.on('message', async (request: HelperRequest) => {
  try {
    if (request.type === 'init') {
      await selectBackend(request.backend);
      network = new ExpressionNetwork(request.config);
      reply({ type: 'ready' });
      return;
    }
    if (!network) throw new Error('not initialised');
    const weights = new Map(
      network.list().map((v, i) => [v.name, { shape: v.variable.shape, values: request.weights[i]! }]),
    );
    network.importWeights(weights);
    const gradients = computeGradients(network, request.images, request.labels, request.mu, request.trained);
    const result = gradientArrays(network, gradients, request.trained);
    disposeGradients(gradients);
    const buffers = [...result.autoencoder, ...result.discriminator].map((a) => a.buffer as ArrayBuffer);
    reply({ type: 'gradients', id: request.id, result }, buffers);
  } catch (error) {
    reply({
      type: 'error',
      ...(request.type === 'gradients' ? { id: request.id } : {}),
      message: (error as Error).message,
    });
  }
});
