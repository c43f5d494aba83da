import * as tf from '@tensorflow/tfjs';
import { selectBackend } from './src-main/core/backend/select-backend.js';
import { ExpressionModel } from './src-main/core/model/expression-model.js';
import { StepRunner } from './src-main/core/training/step.js';
await selectBackend('wasm');
const m = ExpressionModel.create({ preset: 'paper', size: 64, attribute: 'smiling' });
const n = 32; const imgs = Float32Array.from({ length: n * 64 * 64 * 3 }, () => Math.random() * 2 - 1); const labels = Float32Array.from({ length: n }, (_, i) => i % 2);
const s = new StepRunner(m.network, 0.5, 0.999);
await s.run(imgs, labels, 1e-4, 2e-4);
let t = performance.now(); await s.run(imgs, labels, 1e-4, 2e-4); console.log('step ms', (performance.now() - t).toFixed(0));
const info = await tf.profile(async () => { await s.run(imgs, labels, 1e-4, 2e-4); });
const agg = new Map<string, {ms: number, n: number}>();
for (const k of info.kernels) { const key = k.name + (k.name.startsWith('Conv') ? ' ' + JSON.stringify(k.inputShapes) : ''); const a = agg.get(key) ?? {ms: 0, n: 0}; a.ms += k.kernelTimeMs as number; a.n++; agg.set(key, a); }
const rows = [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms);
let total = 0; for (const [, v] of rows) total += v.ms;
console.log('total', total.toFixed(0));
for (const [k, v] of rows.slice(0, 28)) console.log(v.ms.toFixed(1).padStart(8), v.n, k);
