import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradients } from './wasm-gradients.js';
import { maxWasmThreads, startWasmBackend } from './wasm-threads.js';

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
  /** threads one operation runs on (WebAssembly; the native backends manage their own) */
  threads?: number;
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

/**
 * The threads compute may use in one process: MIEN_THREADS, else every core
 * (up to what the WebAssembly backend can start).
 */
export function computeThreads(): number {
  const setting = process.env['MIEN_THREADS']?.trim();
  if (!setting) return Math.min(os.availableParallelism(), maxWasmThreads);
  const wanted = Number(setting);
  if (!Number.isInteger(wanted) || wanted < 1) {
    throw new Error(`MIEN_THREADS must be a whole number of threads, 1 or more (it is "${setting}")`);
  }
  return Math.min(wanted, maxWasmThreads);
}

export interface BackendOptions {
  /** WebAssembly threads; 1 where other threads of the process compute at the same time */
  threads?: number;
}

let current: BackendReport | undefined;

/**
 * Picks the compute backend once per process: the best that starts, or the one
 * requested (which must then start, or this fails with the reason).
 */
export async function selectBackend(
  request: BackendChoice | 'auto' = 'auto',
  options: BackendOptions = {},
): Promise<BackendReport> {
  if (current && (request === 'auto' || request === current.choice)) return current;
  // Production mode skips tfjs' debug checks and its console advice to install tfjs-node.
  tf.enableProdMode();
  const candidates = request === 'auto' ? backendChoices : [request];
  const skipped: BackendReport['skipped'] = [];
  for (const choice of candidates) {
    const started = await tryStart(choice, options.threads ?? computeThreads());
    if (typeof started !== 'string') {
      const threads = started.threads;
      current = {
        choice,
        label: threads && threads > 1 ? `${backendLabels[choice]}, ${threads} threads` : backendLabels[choice],
        tfName: tf.getBackend(),
        forced: request !== 'auto',
        skipped,
        ...(threads ? { threads } : {}),
      };
      return current;
    }
    skipped.push({ choice, reason: started });
  }
  const why = skipped.map((s) => `${s.choice}: ${s.reason}`).join('; ');
  throw new Error(`No compute backend could start (${why})`);
}

/** The running backend's report, if one was selected. */
export function currentBackend(): BackendReport | undefined {
  return current;
}

/** Starts one backend; returns why it could not, or what runs. */
async function tryStart(choice: BackendChoice, threads: number): Promise<string | { threads?: number }> {
  try {
    switch (choice) {
      case 'tfjs-node-gpu':
      case 'tfjs-node': {
        const loaded = await loadNativeBinding(choice);
        if (loaded) return loaded;
        return (await tf.setBackend('tensorflow')) ? {} : `${choice} did not initialise`;
      }
      case 'wasm':
        registerWasmGradients();
        return { threads: await startWasmBackend(threads) };
      case 'cpu':
        return (await tf.setBackend('cpu')) ? { threads: 1 } : 'CPU backend did not initialise';
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
