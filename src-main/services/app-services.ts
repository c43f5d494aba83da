import { mkdir, readFile, stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import {
  defaultSettings,
  settingsSchema,
  type EventChannel,
  type EventOf,
  type Envelope,
  type JobEnd,
  type ModelEntry,
  type PhotoEntry,
  type ReplyOf,
  type Settings,
} from '../contract/ipc-contract.js';
import { type BackendReport } from '../core/backend/select-backend.js';
import { listFolder } from '../core/editing/batch.js';
import { ThumbnailCache } from '../core/images/thumbnails.js';
import { builtInModelId, ModelLibrary, type ModelInfo } from '../core/library/model-library.js';
import { SidecarStore } from '../core/library/sidecars.js';
import type { ComputeProgress } from '../worker/compute-service.js';
import { ComputeClient, type DirectCall } from './compute-client.js';
import { dispatch, type Handlers } from './dispatch.js';
import { createFinetuneServices, type StartJob } from './finetune-handlers.js';
import { AccessError, FolderAccess } from './folder-access.js';
import { modelEntry } from './model-entry.js';
import { pruneFaceSets } from '../core/finetune/prune-face-sets.js';

/** What settings and app state are kept in (an electron-store instance fits). */
export interface KeyValueStore {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

/** Native dialogs of the desktop shell; the browser host has none. */
export interface ShellDialogs {
  chooseFolder(purpose: 'open' | 'output'): Promise<string | null>;
  chooseModelFile(): Promise<string | null>;
  chooseModelExportFile(suggestedName: string): Promise<string | null>;
  /** opens the system's file manager at a file, selected */
  showInFolder(file: string): void;
}

export interface AppServicesOptions {
  /** the app's own folder: edit records, thumbnails, imported models */
  dataDir: string;
  /** where the shipped models lie (`models/default.mien`) */
  resourcesDir: string;
  store: KeyValueStore;
  dialogs?: ShellDialogs;
  /** sends an event to the renderer */
  emit(event: EventChannel, body: unknown): void;
}

export interface PhotoResponse {
  status: number;
  mime: string;
  body: Buffer | string;
}

export interface AppServices {
  /** Validates the payload against the contract and runs the handler; never throws. */
  dispatch(channel: string, payload: unknown): Promise<Envelope<unknown>>;
  /** A photo (a display copy) or its thumbnail, only inside folders the user opened. */
  servePhoto(file: string, thumbnailSize?: number): Promise<PhotoResponse>;
  close(): Promise<void>;
}

/** Longest side of the copy the editor shows as "the photo" (EXIF orientation applied, any format). */
const displaySide = 2560;
const maxRecentFolders = 10;
/** Progress events are sent at most this often per job; the last one always. */
const progressIntervalMs = 150;
/** On close, running fine-tunes get this long to write their checkpoint before the worker stops. */
const pauseOnCloseMs = 15_000;

/**
 * The services behind the IPC contract, in plain Node: the Electron shell and
 * the loopback WebSocket host both serve exactly these. Compute (model, face
 * detector, batches) runs in a worker thread; files are reached only inside
 * folders the user opened.
 */
export async function createAppServices(options: AppServicesOptions): Promise<AppServices> {
  const { store, dialogs } = options;
  const access = new FolderAccess();
  const sidecars = new SidecarStore(path.join(options.dataDir, 'edits'));
  const thumbnails = new ThumbnailCache(path.join(options.dataDir, 'thumbnails'));
  const modelsDir = path.join(options.dataDir, 'models');
  const models = new ModelLibrary(path.join(options.resourcesDir, 'models', 'default.mien'), modelsDir);
  const compute = new ComputeClient();
  const jobs = new Map<string, { kind: JobEnd['kind'] }>();

  let backend: BackendReport | undefined;
  let activeModel: { name: string; file: string } | null = null;
  let modelError: string | null = null;

  const settings = (): Settings => {
    const parsed = settingsSchema.partial().safeParse(store.get('settings'));
    return { ...defaultSettings, ...(parsed.success ? parsed.data : {}) };
  };
  const emit = <E extends EventChannel>(event: E, body: EventOf<E>) => options.emit(event, body);

  /** The active model's file: the user's choice if it still exists, else the shipped one. */
  const activeModelInfo = async (): Promise<ModelInfo | undefined> => {
    const all = await models.list();
    const chosen = String(store.get('activeModel') ?? builtInModelId);
    return all.find((m) => m.id === chosen) ?? all.find((m) => m.id === builtInModelId);
  };

  const loadActiveModel = async (call: DirectCall) => {
    const info = await activeModelInfo();
    if (!info) {
      activeModel = null;
      modelError = `no model: ${path.join(options.resourcesDir, 'models', 'default.mien')} is missing or damaged`;
      return;
    }
    try {
      const loaded = await call('loadModel', info.file);
      activeModel = { name: info.name, file: loaded.file };
      modelError = null;
    } catch (error) {
      activeModel = null;
      modelError = (error as Error).message;
    }
  };

  compute.onStart(async (call) => {
    backend = await call('init', settings().backend);
    await loadActiveModel(call);
  });

  const status = async (): Promise<ReplyOf<'app:status'>> => {
    await compute.ready().catch((error: Error) => (modelError ??= error.message));
    return {
      version: process.env['npm_package_version'] ?? '0.1.0',
      backend: backend
        ? {
            name: backend.choice,
            label: backend.label,
            skipped: backend.skipped.map((s) => ({ name: s.choice, reason: s.reason })),
          }
        : { name: 'none', label: 'starting', skipped: [] },
      model: activeModel,
      modelError,
      nativeDialogs: dialogs !== undefined,
    };
  };

  /** Output folders: chosen in a dialog or inside an opened folder; the browser host lets its user type one. */
  const outputFolder = async (folder: string): Promise<string> => {
    if (!dialogs) return (await mkdirAndGrant(access, folder)).real;
    if (!(await access.allowsFolder(folder))) {
      throw new AccessError(folder, 'choose the output folder with "Choose…" first');
    }
    return (await mkdirAndGrant(access, folder)).real;
  };

  const startJob: StartJob = (kind, run) => {
    const jobId = randomUUID();
    jobs.set(jobId, { kind });
    let lastSent = 0;
    const progress = (p: ComputeProgress) => {
      const now = performance.now();
      if (now - lastSent < progressIntervalMs && p.done < p.total) return;
      lastSent = now;
      emit('job:progress', { jobId, kind, ...p });
    };
    const ended = run(jobId, progress)
      .then((result) => emit('job:end', { jobId, kind, ...result }))
      .catch((error: Error) =>
        emit('job:end', { jobId, kind, state: 'failed', summary: error.message, errors: [], files: [] }),
      )
      .finally(() => jobs.delete(jobId));
    return { jobId, ended };
  };

  const finetune = createFinetuneServices({
    dataDir: options.dataDir,
    modelsDir,
    access,
    compute,
    activeModelFile: async () => {
      const info = await activeModelInfo();
      if (!info) throw new Error('no model to fine-tune: the shipped model is missing; import one in Models');
      return info.file;
    },
    startJob,
    emit,
  });

  const toEntry = async (info: ModelInfo, activeId: string | undefined): Promise<ModelEntry> =>
    modelEntry(info, activeId, await models.list());

  const handlers: Handlers = {
    'app:status': status,

    'library:chooseFolder': async ({ purpose }) => {
      if (!dialogs) throw new Error('there is no folder dialog here; type the folder path instead');
      const folder = await dialogs.chooseFolder(purpose);
      if (folder) await access.grant(folder);
      return { folder };
    },

    'file:showInFolder': async ({ path: file }) => {
      if (!dialogs) throw new Error('there is no file manager to show it in here');
      // Only what lies in a folder the user opened or wrote to: the renderer names no other file.
      dialogs.showInFolder(await access.check(file));
      return { ok: true };
    },

    'library:open': async ({ folder, recursive }) => {
      const real = await access.grant(folder);
      const listing = await listFolder(real, recursive);
      const photos = await Promise.all(listing.photos.map((file) => photoEntry(real, file, sidecars)));
      const recent = [real, ...recentFolders(store).filter((f) => f !== real)].slice(0, maxRecentFolders);
      store.set('recentFolders', recent);
      const extensions = [...new Set(listing.unreadable.map((file) => path.extname(file).toLowerCase()))].sort();
      return {
        folder: real,
        photos: photos.filter((p): p is PhotoEntry => p !== undefined),
        unreadable: { count: listing.unreadable.length, extensions },
      };
    },

    'library:recent': async () => ({ folders: recentFolders(store) }),

    'photo:faces': async ({ photo }) => compute.call('faces', await access.check(photo)),

    'photo:preview': async ({ photo, faces, maxSide, region }) =>
      compute.call('preview', await access.check(photo), faces, maxSide, region),

    'photo:edits': async ({ photo }) => {
      const found = await sidecars.read(await access.check(photo));
      return found ? { faces: found.record.faces, stale: found.stale } : null;
    },

    'photo:saveEdits': async ({ photo, faces }) => {
      const real = await access.check(photo);
      await sidecars.write(real, { model: { file: activeModel?.file ?? '' }, faces });
      return { ok: true };
    },

    'photo:export': async ({ photo, faces, outDir, ...format }) => {
      const real = await access.check(photo);
      const file = await compute.call('exportPhoto', real, faces, await outputFolder(outDir), format);
      return { file };
    },

    'pairs:export': async (request) => {
      const photos = await Promise.all(request.photos.map((p) => access.check(p)));
      const faces = Object.fromEntries(
        await Promise.all(Object.entries(request.faces).map(async ([p, f]) => [await access.check(p), f] as const)),
      );
      const outDir = await outputFolder(request.outDir);
      const pair = {
        layout: request.layout,
        labels: request.labels,
        quality: request.quality,
        ...(request.format ? { format: request.format } : {}),
      };
      const { jobId } = startJob('pairs', (id, progress) =>
        compute.job('pairs', [id, { photos, faces, target: request.target, outDir, pair }], progress),
      );
      return { jobId };
    },

    'batch:start': async (request) => {
      const outputDir = await outputFolder(request.outDir);
      const source =
        'folder' in request.source
          ? {
              inputDir: await access.check(request.source.folder),
              recursive: request.source.recursive,
            }
          : { inputDir: '', photos: await Promise.all(request.source.photos.map((p) => access.check(p))) };
      const options = {
        ...source,
        outputDir,
        target: request.target,
        format: request.format,
        quality: request.quality,
        keepMetadata: request.keepMetadata,
        ...(request.detector ? { detector: request.detector } : {}),
      };
      const { jobId } = startJob('batch', (id, progress) => compute.job('batch', [id, options], progress));
      return { jobId };
    },

    'job:cancel': async ({ jobId }) => {
      if (!jobs.has(jobId)) throw new Error('that job is not running');
      await compute.call('cancel', jobId);
      return { ok: true };
    },

    'models:list': async () => {
      const active = await activeModelInfo();
      const all = await models.list();
      return { models: all.map((m) => modelEntry(m, active?.id, all)) };
    },

    'models:import': async ({ file, name }) => {
      const chosen = file ?? (await dialogs?.chooseModelFile()) ?? null;
      if (!chosen) return { model: null };
      const imported = await models.import(chosen, name);
      return { model: await toEntry(imported, (await activeModelInfo())?.id) };
    },

    'models:export': async ({ id, file }) => {
      const model = await models.get(id);
      const target = file ?? (await dialogs?.chooseModelExportFile(`${model.id}.mien`)) ?? null;
      if (!target) return { file: null };
      if (!dialogs && !(await access.allowsFolder(path.dirname(target)))) await outputFolder(path.dirname(target));
      return { file: await models.export(id, target) };
    },

    'models:activate': async ({ id }) => {
      const model = await models.get(id);
      await compute.call('loadModel', model.file);
      store.set('activeModel', model.id);
      activeModel = { name: model.name, file: model.file };
      modelError = null;
      emit('app:status', await status());
      return { model: await toEntry(model, model.id) };
    },

    'models:delete': async ({ id }) => {
      const active = await activeModelInfo();
      await models.remove(id);
      if (active?.id === id) {
        store.set('activeModel', builtInModelId);
        await compute.call('loadModel', (await models.get(builtInModelId)).file).catch(() => undefined);
        emit('app:status', await status());
      }
      return { ok: true };
    },

    'settings:get': async () => settings(),

    'settings:set': async (patch) => {
      const next = settingsSchema.parse({ ...settings(), ...patch });
      const switching = patch.backend !== undefined && patch.backend !== backend?.choice;
      // Restarting the worker would stop running jobs (a fine-tune loses its steps since the last checkpoint).
      if (switching && jobs.size > 0) {
        throw new Error('wait for the running jobs to finish (or pause them) before switching the backend');
      }
      store.set('settings', next);
      if (switching) {
        // A backend is chosen once per thread: a fresh worker applies the new choice.
        await compute.restart();
        emit('app:status', await status());
      }
      return next;
    },

    ...finetune.handlers,
  };

  void compute.ready().catch(() => undefined);
  // Housekeeping in the background: a failure here costs only disk space.
  void pruneFaceSets({ facesRoot: path.join(options.dataDir, 'finetune', 'faces'), profilesDir: modelsDir }).catch(
    () => undefined,
  );

  return {
    dispatch: (channel, payload) => dispatch(handlers, channel, payload),
    servePhoto: (file, size) => servePhoto(access, thumbnails, file, size),
    close: async () => {
      // A fine-tune paused now resumes from this very step; killed, it would lose up to a checkpoint interval.
      await finetune.pauseAll(pauseOnCloseMs);
      await compute.close();
    },
  };
}

async function photoEntry(root: string, file: string, sidecars: SidecarStore): Promise<PhotoEntry | undefined> {
  const info = await stat(file).catch(() => undefined);
  if (!info) return undefined;
  const record = await sidecars.read(file).catch(() => undefined);
  return {
    path: file,
    name: path.basename(file),
    folder: path.relative(root, path.dirname(file)),
    bytes: info.size,
    modifiedMs: info.mtimeMs,
    editedFaces: record && !record.stale ? record.record.faces.length : 0,
  };
}

function recentFolders(store: KeyValueStore): string[] {
  const value = store.get('recentFolders');
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

async function mkdirAndGrant(access: FolderAccess, folder: string): Promise<{ real: string }> {
  if (!path.isAbsolute(folder)) throw new AccessError(folder, 'the output folder must be an absolute path');
  await mkdir(folder, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
    throw new AccessError(folder, `cannot create the output folder (${error.code ?? error.message})`);
  });
  return { real: await access.grant(folder) };
}

async function servePhoto(
  access: FolderAccess,
  thumbnails: ThumbnailCache,
  file: string,
  size: number | undefined,
): Promise<PhotoResponse> {
  try {
    const real = await access.check(file);
    const side = size === undefined ? displaySide : Math.min(Math.max(Math.round(size), 16), displaySide);
    return { status: 200, mime: 'image/jpeg', body: await readFile(await thumbnails.get(real, side)) };
  } catch (error) {
    const message = (error as Error).message;
    if (error instanceof AccessError)
      return { status: message.endsWith('file not found') ? 404 : 403, mime: 'text/plain', body: message };
    return { status: 500, mime: 'text/plain', body: message };
  }
}
