import { getContext } from 'svelte';
import type { AppState } from '../state/app-state.svelte.js';

const key = Symbol('mien-app');

/** The context handed to mount(): every component reaches the one AppState through useApp(). */
export function appContext(app: AppState): Map<unknown, unknown> {
  return new Map([[key, app]]);
}

/** The application state, for any component of the app. */
export function useApp(): AppState {
  const app = getContext<AppState | undefined>(key);
  if (!app) throw new Error('useApp() outside of the mounted app');
  return app;
}
