import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { computeThreads, requestedBackend, selectBackend } from '../../src-main/core/backend/select-backend.js';

describe('backend selection', () => {
  it('falls back to the best backend that starts and says why the better ones did not', async () => {
    const report = await selectBackend('auto');
    expect(['tfjs-node-gpu', 'tfjs-node', 'wasm']).toContain(report.choice);
    expect(tf.getBackend()).toBe(report.tfName);
    if (report.choice === 'wasm') {
      expect(report.skipped.map((s) => s.choice)).toEqual(['tfjs-node-gpu', 'tfjs-node']);
      for (const s of report.skipped) expect(s.reason).toMatch(/not installed|failed to load/);
    }
  });

  it('runs the backend the user forces', async () => {
    const cpu = await selectBackend('cpu');
    expect(cpu).toMatchObject({ choice: 'cpu', forced: true, tfName: 'cpu' });
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await selectBackend('wasm');
    expect(wasm.choice).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('runs the WebAssembly backend on as many threads as MIEN_THREADS or the cores allow', async () => {
    const wasm = await selectBackend('wasm');
    const threads = computeThreads();
    expect(wasm.threads).toBe(threads);
    if (threads > 1) expect(wasm.label).toBe(`WebAssembly (XNNPACK), ${threads} threads`);
    // The pool computes what one thread computes.
    const x = tf.randomUniform([2, 17, 17, 24], -1, 1, 'float32', 3);
    const filter = tf.randomUniform([3, 3, 24, 40], -1, 1, 'float32', 4);
    const threaded = tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 2, 'same').dataSync();
    await selectBackend('cpu');
    const plain = tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 2, 'same').dataSync();
    await selectBackend('wasm');
    let largest = 0;
    threaded.forEach((v, i) => (largest = Math.max(largest, Math.abs(v - plain[i]!))));
    expect(largest).toBeLessThan(1e-4);
    tf.dispose([x, filter]);
  });

  it('fails clearly when a forced backend cannot start', async () => {
    const auto = await selectBackend('auto');
    const missing = auto.skipped.find((s) => s.choice === 'tfjs-node-gpu');
    if (!missing) return; // a machine where the GPU build runs has nothing to refuse
    await expect(selectBackend('tfjs-node-gpu')).rejects.toThrow(/tfjs-node-gpu/);
    expect((await selectBackend('wasm')).choice).toBe('wasm');
  });

  it('reads the thread count from the environment and rejects one that is not a count', () => {
    const saved = process.env['MIEN_THREADS'];
    process.env['MIEN_THREADS'] = '3';
    expect(computeThreads()).toBe(3);
    process.env['MIEN_THREADS'] = '64';
    expect(computeThreads()).toBe(8);
    for (const bad of ['two', '0', '1.5']) {
      process.env['MIEN_THREADS'] = bad;
      expect(() => computeThreads()).toThrow(
        `MIEN_THREADS must be a whole number of threads, 1 or more (it is "${bad}")`,
      );
    }
    if (saved === undefined) delete process.env['MIEN_THREADS'];
    else process.env['MIEN_THREADS'] = saved;
  });

  it('reads the choice from the environment and rejects unknown names', () => {
    const saved = process.env['MIEN_BACKEND'];
    process.env['MIEN_BACKEND'] = 'cpu';
    expect(requestedBackend()).toBe('cpu');
    expect(requestedBackend('wasm')).toBe('wasm');
    process.env['MIEN_BACKEND'] = 'tpu';
    expect(() => requestedBackend()).toThrow(/Unknown backend "tpu"/);
    if (saved === undefined) delete process.env['MIEN_BACKEND'];
    else process.env['MIEN_BACKEND'] = saved;
  });
});
