import { defaultSettings } from '../../src-main/contract/default-settings.js';
import type { Settings } from '../../src-main/contract/ipc-contract.js';

export type Backend = Settings['backend'];

/** The compute backends in the words of the Settings screen. */
export const backendChoices: { value: Backend; label: string }[] = [
  { value: 'auto', label: 'Automatic (fastest available)' },
  { value: 'tfjs-node-gpu', label: 'GPU (CUDA)' },
  { value: 'tfjs-node', label: 'CPU (native)' },
  { value: 'wasm', label: 'WebAssembly' },
  { value: 'cpu', label: 'Plain JavaScript (slowest)' },
];

/**
 * The Settings screen's form: a draft of the settings the user edits, the
 * values last saved, and what changed between them (only that is sent). Until
 * the services answer it holds the defaults they would fill in.
 */
export class SettingsForm {
  draft = $state<Settings>({ ...defaultSettings });
  saved = $state.raw<Settings>({ ...defaultSettings });

  readonly changes = $derived.by(() => changedFields(this.saved, this.draft));
  readonly dirty = $derived(Object.keys(this.changes).length > 0);
  /** saving restarts the compute engine */
  readonly backendChanged = $derived(this.changes.backend !== undefined);

  constructor(initial: Settings | null = null) {
    if (initial) this.load(initial);
  }

  /** Takes the settings as the main process has them (after loading or saving). */
  load(settings: Settings): void {
    this.saved = { ...settings };
    this.draft = { ...settings };
  }

  revert(): void {
    this.draft = { ...this.saved };
  }
}

function changedFields(saved: Settings, draft: Settings): Partial<Settings> {
  const changes: Partial<Settings> = {};
  for (const key of Object.keys(draft) as (keyof Settings)[]) {
    if (draft[key] !== saved[key]) Object.assign(changes, { [key]: draft[key] });
  }
  return changes;
}
