import { mount } from 'svelte';
import App from './App.svelte';
import { MienApi } from './lib/api.js';
import { appContext } from './lib/context.js';
import { resolveBridge } from './lib/bridge.js';
import { AppState } from './state/app-state.svelte.js';

const target = document.getElementById('app');
if (!target) throw new Error('index.html lacks the #app element');

const app = new AppState(new MienApi(resolveBridge()));

// Failures outside rendering (event handlers, promises) never reach the error boundary: show them anyway.
window.addEventListener('unhandledrejection', (event) => app.notices.error(event.reason));
window.addEventListener('error', (event) => app.notices.error(event.error ?? event.message));

mount(App, { target, context: appContext(app) });
void app.start();
