import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradients } from './wasm-gradients.js';

/** The compute backends, best first. */
export const backendChoices = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof backendChoices)[number];

export const backendLabels: Record<BackendChoice, string> = {
  'tfjs-node-gpu': 'GPU (CUDA, tfjs-node-gpu)',
  'tfjs-node': 'CPU native (tfjs-node)',
  wasm: 'WebAssembly (XNNPACK)',
  cpu: 'plain JavaScript',
};

export interface BackendReport {
  /** the backend that runs */
  choice: BackendChoice;
  label: string;
  /** tfjs' own name for it: 'tensorflow', 'wasm' or 'cpu' */
  tfName: string;
  /** true when the user asked for this backend rather than the best available */
  forced: boolean;
  /** why each better backend is not running */
  skipped: { choice: BackendChoice; reason: string }[];
}

export function isBackendChoice(value: string): value is BackendChoice {
  return (backendChoices as readonly string[]).includes(value);
}

/** The user's choice: an explicit argument, else MIEN_BACKEND, else automatic. */
export function requestedBackend(explicit?: string): BackendChoice | 'auto' {
  const wanted = explicit ?? process.env['MIEN_BACKEND'] ?? 'auto';
  if (wanted === 'auto') return 'auto';
  if (!isBackendChoice(wanted)) {
    throw new Error(`Unknown backend "${wanted}"; choose auto, ${backendChoices.join(', ')}`);
  }
  return wanted;
}

let current: BackendReport | undefined;

/**
 * Picks the compute backend once per process: the best that starts, or the one
 * requested (which must then start, or this fails with the reason).
 */
export async function selectBackend(request: BackendChoice | 'auto' = 'auto'): Promise<BackendReport> {
  if (current && (request === 'auto' || request === current.choice)) return current;
  // Production mode skips tfjs' debug checks and its console advice to install tfjs-node.
  tf.enableProdMode();
  const candidates = request === 'auto' ? backendChoices : [request];
  const skipped: BackendReport['skipped'] = [];
  for (const choice of candidates) {
    const reason = await tryStart(choice);
    if (reason === undefined) {
      current = {
        choice,
        label: backendLabels[choice],
        tfName: tf.getBackend(),
        forced: request !== 'auto',
        skipped,
      };
      return current;
    }
    skipped.push({ choice, reason });
  }
  const why = skipped.map((s) => `${s.choice}: ${s.reason}`).join('; ');
  throw new Error(`No compute backend could start (${why})`);
}

/** The running backend's report, if one was selected. */
export function currentBackend(): BackendReport | undefined {
  return current;
}

/** Starts one backend; returns why it could not, or undefined when it runs. */
async function tryStart(choice: BackendChoice): Promise<string | undefined> {
  try {
    switch (choice) {
      case 'tfjs-node-gpu':
      case 'tfjs-node': {
        const loaded = await loadNativeBinding(choice);
        if (loaded) return loaded;
        return (await tf.setBackend('tensorflow')) ? undefined : `${choice} did not initialise`;
      }
      case 'wasm':
        registerWasmGradients();
        return (await tf.setBackend('wasm')) ? undefined : 'WebAssembly did not initialise';
      case 'cpu':
        return (await tf.setBackend('cpu')) ? undefined : 'CPU backend did not initialise';
    }
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

async function loadNativeBinding(choice: 'tfjs-node-gpu' | 'tfjs-node'): Promise<string | undefined> {
  try {
    // A variable specifier keeps bundlers and the type checker from requiring
    // the optional package at build time.
    const specifier = `@tensorflow/${choice}`;
    await import(specifier);
    return undefined;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return `${choice} not installed`;
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return `${choice} failed to load: ${message}`;
  }
}
