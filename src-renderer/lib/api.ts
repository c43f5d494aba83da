import type {
  CropFrame,
  EventChannel,
  EventOf,
  MienBridge,
  ReplyOf,
  RequestChannel,
  RequestOf,
} from '../../src-main/contract/ipc-contract.js';

/** A failed call, with the main process's message meant for the user. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly code: string,
    readonly channel: RequestChannel,
  ) {
    super(message);
  }
}

/** Readable text for anything thrown, for the alert region. */
export function messageOf(error: unknown): string {
  if (error instanceof Error && error.message) return error.message;
  if (typeof error === 'string' && error) return error;
  return 'Something went wrong.';
}

export type EditRecordFace = { id: string; frame: CropFrame; source: number; target: number };

/**
 * The one typed client of the main process: a method per channel that unwraps
 * the reply envelope and throws an ApiError with the readable message.
 */
export class MienApi {
  constructor(private readonly bridge: MienBridge) {}

  async call<C extends RequestChannel>(channel: C, payload: RequestOf<C>): Promise<ReplyOf<C>> {
    let envelope;
    try {
      envelope = await this.bridge.invoke(channel, payload);
    } catch (error) {
      // The bridge itself broke (preload gone, IPC torn down): still a readable failure.
      throw new ApiError(messageOf(error), 'bridge', channel);
    }
    if (!envelope.ok) throw new ApiError(envelope.error.message, envelope.error.code, channel);
    return envelope.value;
  }

  on<E extends EventChannel>(event: E, listener: (body: EventOf<E>) => void): () => void {
    return this.bridge.on(event, listener);
  }

  photoUrl(photo: string, thumbnailSize?: number): string {
    return this.bridge.photoUrl(photo, thumbnailSize);
  }

  /** Path of a dropped file or folder, where the shell can tell it (Electron only). */
  pathOfDroppedFile(file: File): string | null {
    if (!this.bridge.pathOfDroppedFile) return null;
    const path = this.bridge.pathOfDroppedFile(file);
    return path ? path : null;
  }

  status() {
    return this.call('app:status', {});
  }

  async chooseFolder(purpose: 'open' | 'output'): Promise<string | null> {
    return (await this.call('library:chooseFolder', { purpose })).folder;
  }

  openFolder(folder: string, recursive: boolean) {
    return this.call('library:open', { folder, recursive });
  }

  async recentFolders(): Promise<string[]> {
    return (await this.call('library:recent', {})).folders;
  }

  faces(photo: string) {
    return this.call('photo:faces', { photo });
  }

  /** Selects a file (or folder) the app wrote in the system's file manager; desktop shell only. */
  async showInFolder(path: string): Promise<void> {
    await this.call('file:showInFolder', { path });
  }

  /** The photo (or, with `region`, one box of it at full resolution) with the faces edited as chosen. */
  preview(request: RequestOf<'photo:preview'>) {
    return this.call('photo:preview', request);
  }

  edits(photo: string) {
    return this.call('photo:edits', { photo });
  }

  async saveEdits(photo: string, faces: EditRecordFace[]): Promise<void> {
    await this.call('photo:saveEdits', { photo, faces });
  }

  async exportPhoto(request: RequestOf<'photo:export'>): Promise<string> {
    return (await this.call('photo:export', request)).file;
  }

  async exportPairs(request: RequestOf<'pairs:export'>): Promise<string> {
    return (await this.call('pairs:export', request)).jobId;
  }

  async startBatch(request: RequestOf<'batch:start'>): Promise<string> {
    return (await this.call('batch:start', request)).jobId;
  }

  async cancelJob(jobId: string): Promise<void> {
    await this.call('job:cancel', { jobId });
  }

  async listModels() {
    return (await this.call('models:list', {})).models;
  }

  async importModel(file?: string, name?: string) {
    return (await this.call('models:import', { ...(file ? { file } : {}), ...(name ? { name } : {}) })).model;
  }

  async exportModel(id: string, file?: string): Promise<string | null> {
    return (await this.call('models:export', file ? { id, file } : { id })).file;
  }

  async activateModel(id: string) {
    return (await this.call('models:activate', { id })).model;
  }

  /** Only after the user said yes: the payload carries that answer. */
  async deleteModel(request: RequestOf<'models:delete'>): Promise<void> {
    await this.call('models:delete', request);
  }

  collectFaces(request: RequestOf<'finetune:collect'>) {
    return this.call('finetune:collect', request);
  }

  faceSet(faceSetId: string) {
    return this.call('finetune:faceSet', { faceSetId });
  }

  relabelFaces(faceSetId: string, changes: RequestOf<'finetune:relabel'>['changes']) {
    return this.call('finetune:relabel', { faceSetId, changes });
  }

  finetunePresets() {
    return this.call('finetune:presets', {});
  }

  startFinetune(request: RequestOf<'finetune:start'>) {
    return this.call('finetune:start', request);
  }

  async pauseFinetune(runId: string): Promise<void> {
    await this.call('finetune:pause', { runId });
  }

  resumeFinetune(runId: string) {
    return this.call('finetune:resume', { runId });
  }

  /** Only after the user said yes: the payload carries that answer. */
  async discardFinetune(runId: string): Promise<void> {
    await this.call('finetune:discard', { runId, confirmed: true });
  }

  async unfinishedFinetunes() {
    return (await this.call('finetune:unfinished', {})).runs;
  }

  settings() {
    return this.call('settings:get', {});
  }

  updateSettings(changes: RequestOf<'settings:set'>) {
    return this.call('settings:set', changes);
  }
}
