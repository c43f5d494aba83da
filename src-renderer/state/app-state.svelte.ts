import type { ReplyOf, Settings } from '../../src-main/contract/ipc-contract.js';
import type { MienApi } from '../lib/api.js';
import { EditorSession } from './editor-session.svelte.js';
import { EditorState } from './editor-state.svelte.js';
import { FinetuneState } from './finetune-state.svelte.js';
import { GalleryState } from './gallery-state.svelte.js';
import { JobState } from './job-state.svelte.js';
import { Notifications } from './notifications.svelte.js';

export type View = 'gallery' | 'editor' | 'batch' | 'finetune' | 'models' | 'settings';

const outputFolderKey = 'mien.outputFolder';

function remembered(key: string): string {
  try {
    return globalThis.localStorage?.getItem(key) ?? '';
  } catch {
    return '';
  }
}

function remember(key: string, value: string): void {
  try {
    globalThis.localStorage?.setItem(key, value);
  } catch {
    // Storage can be unavailable (private windows, file:// policies); the field simply starts empty next time.
  }
}

/** The whole renderer's state, built once and handed to the components through context. */
export class AppState {
  view = $state<View>('gallery');
  status = $state<ReplyOf<'app:status'> | null>(null);
  statusError = $state<string | null>(null);
  settings = $state<Settings | null>(null);
  recentFolders = $state<string[]>([]);
  outputFolder = $state(remembered(outputFolderKey));

  readonly notices = new Notifications();
  readonly gallery = new GalleryState();
  readonly editor = new EditorState();
  readonly jobs = new JobState();
  readonly session: EditorSession;
  readonly finetune: FinetuneState;

  private readonly unsubscribe: (() => void)[] = [];

  constructor(readonly api: MienApi) {
    this.session = new EditorSession(api, this.editor, this.notices, {
      saved: (photo, faces) => this.gallery.markEdited(photo, faces),
    });
    this.finetune = new FinetuneState(api, this.notices);
  }

  /** Subscribes to the main process's events and loads what the first screen needs. */
  async start(): Promise<void> {
    this.unsubscribe.push(
      this.api.on('job:progress', (event) => this.jobs.progress(event)),
      this.api.on('job:end', (event) => {
        this.jobs.ended(event);
        if (event.state === 'failed') this.notices.error(event.summary);
        void this.finetune.jobEnded(event);
      }),
      this.api.on('finetune:progress', (event) => this.finetune.progress(event)),
      this.api.on('finetune:preview', (event) => this.finetune.preview(event)),
      this.api.on('app:status', (status) => (this.status = status)),
    );
    await Promise.all([this.refreshStatus(), this.loadSettings(), this.loadRecent(), this.offerPausedFinetunes()]);
  }

  /** A fine-tune left paused (or cut off when the app closed) is offered for resuming. */
  private async offerPausedFinetunes(): Promise<void> {
    await this.finetune.load();
    const paused = this.finetune.unfinished;
    if (paused.length > 0) {
      const names = paused.map((run) => `“${run.name}”`).join(', ');
      this.notices.info(`Paused fine-tune${paused.length === 1 ? '' : 's'} ${names}: resume in the Fine-tune tab.`);
    }
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
    this.session.close();
  }

  async refreshStatus(): Promise<void> {
    try {
      this.status = await this.api.status();
      this.statusError = null;
    } catch (error) {
      this.statusError = error instanceof Error ? error.message : String(error);
      this.notices.error(error, 'Connecting to Mien');
    }
  }

  async loadSettings(): Promise<void> {
    try {
      this.settings = await this.api.settings();
    } catch {
      // Defaults in the panels stand in; the status call already reported a dead connection.
    }
  }

  /** Saves settings; false (with the reason shown) when the main process refused them. */
  async updateSettings(changes: Partial<Settings>): Promise<boolean> {
    try {
      this.settings = await this.api.updateSettings(changes);
      return true;
    } catch (error) {
      this.notices.error(error, 'Saving settings');
      return false;
    }
  }

  async loadRecent(): Promise<void> {
    try {
      this.recentFolders = await this.api.recentFolders();
    } catch {
      this.recentFolders = [];
    }
  }

  async openFolder(folder: string, recursive = this.gallery.recursive): Promise<boolean> {
    const trimmed = folder.trim();
    if (!trimmed) {
      this.notices.error('Type the path of a folder of photos first.');
      return false;
    }
    this.gallery.loading = true;
    try {
      const reply = await this.api.openFolder(trimmed, recursive);
      this.gallery.recursive = recursive;
      this.gallery.load(reply.folder, reply.photos, reply.unreadable);
      this.view = 'gallery';
      void this.loadRecent();
      return true;
    } catch (error) {
      this.notices.error(error, 'Opening the folder');
      return false;
    } finally {
      this.gallery.loading = false;
    }
  }

  /** The folder chooser of the shell (Electron); null when the user cancelled. */
  async chooseFolder(purpose: 'open' | 'output'): Promise<string | null> {
    try {
      return await this.api.chooseFolder(purpose);
    } catch (error) {
      this.notices.error(error, 'Choosing a folder');
      return null;
    }
  }

  /** Shows an export or output folder in the system's file manager (when there is one: see nativeDialogs). */
  async showInFolder(path: string): Promise<void> {
    try {
      await this.api.showInFolder(path);
    } catch (error) {
      this.notices.error(error, 'Showing the file');
    }
  }

  setOutputFolder(folder: string): void {
    this.outputFolder = folder;
    remember(outputFolderKey, folder);
  }

  async openPhoto(path: string): Promise<void> {
    this.view = 'editor';
    await this.session.open(path);
  }

  async showView(view: View): Promise<void> {
    // Leaving the editor writes its pending edits, so the gallery badges are current.
    if (this.view === 'editor' && view !== 'editor') await this.session.flushSave();
    this.view = view;
  }

  async cancelJob(jobId: string): Promise<void> {
    this.jobs.cancelling(jobId);
    try {
      await this.api.cancelJob(jobId);
    } catch (error) {
      this.notices.error(error, 'Cancelling');
    }
  }

  get nativeDialogs(): boolean {
    return this.status?.nativeDialogs ?? false;
  }
}
