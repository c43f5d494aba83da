import type { RequestOf } from '../../src-main/contract/ipc-contract.js';
import { messageOf, type EditRecordFace, type MienApi } from '../lib/api.js';
import { PreviewImage, sameDetailView, type DetailView } from './preview-image.svelte.js';
import type { EditorState } from './editor-state.svelte.js';
import type { Notifications } from './notifications.svelte.js';

export interface EditorSessionOptions {
  /** after an edit record was written: the gallery badge follows */
  saved?: (photo: string, editedFaces: number) => void;
  previewDelayMs?: number;
  saveDelayMs?: number;
  /** longest side of preview images */
  previewSide?: number;
}

/**
 * Talks to the main process for the photo in the editor: detects its faces and
 * restores its saved edits when it opens, asks for a live preview after each
 * change (debounced, stale replies dropped) and writes the edit record back.
 * While the stage is zoomed in past what the preview holds, it also keeps
 * full-resolution images of the box on screen, before and after the edit.
 */
export class EditorSession {
  /** the whole photo with the edits, at `previewSide` (none while nothing is edited) */
  readonly wholePreview: PreviewImage;
  /** the original's pixels of the zoomed-in box */
  readonly originalDetail: PreviewImage;
  /** the edited pixels of the zoomed-in box, as an export has them */
  readonly editedDetail: PreviewImage;
  saving = $state(false);
  /** the edits on screen are not yet in the photo's edit record */
  unsaved = $state(false);

  private loadSequence = 0;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  /** the record last written (or read) per photo, to skip writing the same again */
  private savedRecord = '';
  private detailView: DetailView | null = null;

  constructor(
    private readonly api: MienApi,
    readonly editor: EditorState,
    private readonly notices: Notifications,
    private readonly options: EditorSessionOptions = {},
  ) {
    const preview = () =>
      new PreviewImage(
        api,
        () => this.editor.photo,
        (error) => this.notices.error(error, 'Preview'),
        options.previewDelayMs ?? 250,
      );
    this.wholePreview = preview();
    this.originalDetail = preview();
    this.editedDetail = preview();
  }

  /** The edited whole photo's image URL, or null while nothing is edited. */
  get previewUrl(): string | null {
    return this.wholePreview.image?.url ?? null;
  }

  get previewBusy(): boolean {
    return this.wholePreview.busy;
  }

  /** Longest side of whole-photo previews: a view showing more than that needs detail images. */
  get previewSide(): number {
    return this.options.previewSide ?? 1600;
  }

  /** The stage shows this box of the photo zoomed in (null: the preview is sharp enough). */
  showDetail(view: DetailView | null): void {
    if (sameDetailView(view, this.detailView)) return;
    this.detailView = view;
    this.refreshDetail();
  }

  async open(photo: string): Promise<void> {
    await this.flushSave();
    const sequence = ++this.loadSequence;
    this.wholePreview.clear();
    this.detailView = null;
    this.refreshDetail();
    this.editor.open(photo);
    try {
      const [faces, saved] = await Promise.all([
        this.api.faces(photo),
        // A missing or unreadable edit record only means there is nothing to restore.
        this.api.edits(photo).catch(() => null),
      ]);
      if (sequence !== this.loadSequence) return;
      this.savedRecord = JSON.stringify(saved?.faces ?? []);
      this.editor.detected(faces, saved);
      this.changed();
      this.refreshDetail();
    } catch (error) {
      if (sequence !== this.loadSequence) return;
      this.editor.failed(messageOf(error));
      this.notices.error(error, 'Finding faces');
    }
  }

  /** Follows a change of the choices: a new preview, and the edit record written a moment later. */
  changed(): void {
    const photo = this.editor.photo;
    if (!photo || this.editor.status !== 'ready') return;
    if (this.editor.hasEdits) {
      this.wholePreview.request({ photo, faces: this.editor.faceChoices(), maxSide: this.previewSide });
    } else {
      // Nothing edited: the original is the preview, no need to ask for one.
      this.wholePreview.clear();
    }
    this.refreshEditedDetail(photo);
    const record = this.editor.editRecord();
    this.unsaved = JSON.stringify(record) !== this.savedRecord;
    if (this.unsaved) this.scheduleSave(photo, record);
  }

  /** Writes pending edits now (before opening another photo or leaving the editor). */
  async flushSave(): Promise<void> {
    if (this.saveTimer === null) return;
    clearTimeout(this.saveTimer);
    this.saveTimer = null;
    const photo = this.editor.photo;
    if (photo && this.editor.status === 'ready') await this.save(photo, this.editor.editRecord());
  }

  async exportPhoto(request: Omit<RequestOf<'photo:export'>, 'photo' | 'faces'>): Promise<string | null> {
    const photo = this.editor.photo;
    if (!photo) return null;
    return this.api.exportPhoto({ ...request, photo, faces: this.editor.faceChoices() });
  }

  /** Before/after pair of this photo, as the user set it up; returns the job id. */
  async exportPair(request: Omit<RequestOf<'pairs:export'>, 'photos' | 'faces'>): Promise<string | null> {
    const photo = this.editor.photo;
    if (!photo) return null;
    return this.api.exportPairs({ ...request, photos: [photo], faces: { [photo]: this.editor.faceChoices() } });
  }

  close(): void {
    this.wholePreview.clear();
    this.detailView = null;
    this.refreshDetail();
  }

  /** Detail images of the current view: both asked for again, or both dropped without a view. */
  private refreshDetail(): void {
    const photo = this.editor.photo;
    if (!this.detailView || !photo || this.editor.status !== 'ready') {
      this.originalDetail.clear();
      this.editedDetail.clear();
      return;
    }
    this.originalDetail.request({ photo, faces: [], ...this.detailView });
    this.refreshEditedDetail(photo);
  }

  private refreshEditedDetail(photo: string): void {
    if (this.detailView && this.editor.hasEdits) {
      this.editedDetail.request({ photo, faces: this.editor.faceChoices(), ...this.detailView });
    } else {
      this.editedDetail.clear();
    }
  }

  private scheduleSave(photo: string, record: EditRecordFace[]): void {
    if (this.saveTimer !== null) clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      void this.save(photo, record);
    }, this.options.saveDelayMs ?? 800);
  }

  private async save(photo: string, record: EditRecordFace[]): Promise<void> {
    const json = JSON.stringify(record);
    if (json === this.savedRecord && photo === this.editor.photo) return;
    this.saving = true;
    try {
      await this.api.saveEdits(photo, record);
      if (photo === this.editor.photo) {
        this.savedRecord = json;
        this.unsaved = JSON.stringify(this.editor.editRecord()) !== json;
      }
      this.options.saved?.(photo, record.length);
    } catch (error) {
      this.notices.error(error, 'Saving edits');
    } finally {
      this.saving = false;
    }
  }
}
