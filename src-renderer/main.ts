import { mount } from 'svelte';
import App from './App.svelte';
import { MienApi } from './lib/api.js';
import { appContext } from './lib/context.js';
import { resolveBridge } from './lib/bridge.js';
import { AppState } from './state/app-state.svelte.js';

const target = document.getElementById('app');
if (!target) throw new Error('index.html lacks the #app element');

const app = new AppState(new MienApi(resolveBridge()));
mount(App, { target, context: appContext(app) });
void app.start();
