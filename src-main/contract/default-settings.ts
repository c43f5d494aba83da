import type { Settings } from './ipc-contract.js';

/*
 * The settings a fresh install starts with: the services fill in what the store
 * lacks with these, and the renderer shows them until the services answer.
 * Plain data with nothing imported at run time, so the renderer, which takes
 * only types from the rest of src-main, may import it (eslint.config.js allows
 * this one module and keeps it free of runtime imports).
 */
export const defaultSettings: Settings = {
  backend: 'auto',
  exportFormat: 'same',
  exportQuality: 92,
  keepMetadata: true,
  pairLayout: 'side-by-side',
  pairLabels: true,
};
