// The helper thread of GradientHelper: a copy of the network that computes gradients on request.
import { parentPort } from 'node:worker_threads';
import { selectBackend } from '../backend/select-backend.js';
import { ExpressionNetwork } from '../model/network.js';
import type { HelperReply, HelperRequest } from './gradient-helper.js';
import {
  computeGradients,
  defaultExpressionSettings,
  disposeGradients,
  expressionLossOf,
  gradientArrays,
  realismLossOf,
} from './gradients.js';
import { ExpressionClassifier } from './expression-classifier.js';
import { RealismCritic } from './realism-critic.js';

const port = parentPort;
if (!port) throw new Error('gradient-worker runs only as a worker thread');

let network: ExpressionNetwork | undefined;
let classifier: ExpressionClassifier | undefined;
let expressionSettings = defaultExpressionSettings;
let critic: RealismCritic | undefined;

function reply(message: HelperReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

port.on('message', async (request: HelperRequest) => {
  try {
    if (request.type === 'init') {
      await selectBackend(request.backend, { threads: 1 });
      network = new ExpressionNetwork(request.config);
      reply({ type: 'ready' });
      return;
    }
    if (!network) throw new Error('not initialised');
    if (request.type === 'classifier') {
      classifier?.dispose();
      classifier = new ExpressionClassifier(network.config.size);
      classifier.importArrays(request.weights);
      expressionSettings = request.settings;
      return;
    }
    const weights = new Map(
      network.list().map((v, i) => [v.name, { shape: v.variable.shape, values: request.weights[i]! }]),
    );
    network.importWeights(weights);
    const { images, labels, mu, trained } = request;
    if (request.critic) {
      critic ??= new RealismCritic();
      critic.importArrays(request.critic.weights);
    }
    const extra = {
      expression: expressionLossOf(classifier, request.expressionWeight, expressionSettings),
      realism: realismLossOf(critic, request.critic?.weight ?? 0),
      mouthFocus: request.mouthFocusWeight,
    };
    const gradients = computeGradients(network, images, labels, mu, trained, extra);
    const result = gradientArrays(network, gradients, request.trained, critic);
    disposeGradients(gradients);
    const buffers = [...result.autoencoder, ...result.discriminator, ...result.critic].map(
      (a) => a.buffer as ArrayBuffer,
    );
    reply({ type: 'gradients', id: request.id, result }, buffers);
  } catch (error) {
    reply({
      type: 'error',
      ...(request.type === 'gradients' ? { id: request.id } : {}),
      message: (error as Error).message,
    });
  }
});
