import { describe, expect, test } from 'vitest';
import { defaultSettings } from '../../src-main/contract/default-settings.js';
import { backendChoices, SettingsForm } from '../../src-renderer/state/settings-form.svelte.js';

describe('SettingsForm', () => {
  test('sends only what changed, and knows when the backend changes', () => {
    const form = new SettingsForm({ ...defaultSettings, exportQuality: 80 });
    expect(form.dirty).toBe(false);
    form.draft.exportFormat = 'png';
    form.draft.keepMetadata = false;
    expect(form.changes).toEqual({ exportFormat: 'png', keepMetadata: false });
    expect(form.backendChanged).toBe(false);
    form.draft.backend = 'wasm';
    expect(form.backendChanged).toBe(true);
    form.draft.exportFormat = 'same';
    expect(form.changes).toEqual({ keepMetadata: false, backend: 'wasm' });
  });

  test('revert puts the saved values back; load takes what the main process kept', () => {
    const form = new SettingsForm();
    form.draft.pairLabels = false;
    form.revert();
    expect(form.dirty).toBe(false);
    form.draft.pairLayout = 'both';
    form.load({ ...defaultSettings, pairLayout: 'both' });
    expect(form.dirty).toBe(false);
    expect(form.saved.pairLayout).toBe('both');
  });

  test('names every backend the services accept', () => {
    expect(backendChoices.map((c) => c.value)).toEqual(['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']);
  });
});
