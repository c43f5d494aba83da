import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { requestedBackend, selectBackend } from '../../src-main/core/backend/select-backend.js';

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

  it('fails clearly when a forced backend cannot start', async () => {
    const auto = await selectBackend('auto');
    const missing = auto.skipped.find((s) => s.choice === 'tfjs-node-gpu');
    if (!missing) return; // a machine where the GPU build runs has nothing to refuse
    await expect(selectBackend('tfjs-node-gpu')).rejects.toThrow(/tfjs-node-gpu/);
    expect((await selectBackend('wasm')).choice).toBe('wasm');
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
