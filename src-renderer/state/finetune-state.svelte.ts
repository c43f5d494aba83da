import type {
  FaceSetFace,
  FaceSetSummary,
  FinetunePreset,
  FinetunePreview,
  FinetuneProgress,
  FinetuneRun,
  JobEnd,
  LossPoint,
  ModelEntry,
  ReplyOf,
  RequestOf,
} from '../../src-main/contract/ipc-contract.js';
import type { MienApi } from '../lib/api.js';
import { ObjectUrlSlot } from '../lib/object-url.js';
import type { Notifications } from './notifications.svelte.js';

/** Where the faces come from: a folder, the gallery's selection, or one person (a face in a photo). */
export type FaceSource =
  | { kind: 'folder'; folder: string; recursive: boolean }
  | { kind: 'selection'; photos: string[] }
  | { kind: 'person'; folder: string; recursive: boolean; photo: string; faceId: string };

export interface ReviewFace extends FaceSetFace {
  /** object URL of the crop */
  url: string;
}

export interface ReviewSet extends Omit<FaceSetSummary, 'faces'> {
  faces: ReviewFace[];
}

export type RunState = 'starting' | 'running' | 'pausing' | 'paused' | 'finished' | 'failed';

export interface RunView {
  runId: string;
  name: string;
  jobId: string | null;
  state: RunState;
  stage: FinetuneProgress['stage'];
  step: number;
  totalSteps: number;
  phase: number;
  etaSeconds: number;
  /** e.g. "measuring the base model: 2 of 4" */
  message: string;
  points: LossPoint[];
  previewUrl: string | null;
  previewStep: number | null;
  /** why it failed, in the main process's words */
  error: string | null;
  /** the profile it made, once finished */
  profile: ModelEntry | null;
}

export type AdvancedValues = { steps: number; learningRate: number; mu: number; wholeNetwork: boolean };

type Presets = ReplyOf<'finetune:presets'>;

/**
 * The Fine-tune screen: photos become a face set (collected in the worker),
 * the user corrects it, and a run trains a profile with live progress,
 * previews, pause, resume and discard. Events arrive through `progress`,
 * `preview` and `jobEnded`, which AppState forwards.
 */
export class FinetuneState {
  /** the face collection job in flight, and the set it will make */
  collectJobId = $state<string | null>(null);
  private pendingFaceSetId: string | null = null;
  faceSet = $state.raw<ReviewSet | null>(null);
  /** a correction is on its way to the main process */
  saving = $state(false);

  presets = $state.raw<Presets | null>(null);
  name = $state('');
  /**
   * The chosen preset and the Advanced values start as the presets reply has them (the services
   * define the defaults, mu from the active model); until it comes, a start leaves the choice to them.
   */
  preset = $state<FinetunePreset | null>(null);
  /** while the Advanced section is open, its values replace the preset's */
  advancedOpen = $state(false);
  advanced = $state<AdvancedValues | null>(null);

  run = $state.raw<RunView | null>(null);
  unfinished = $state.raw<FinetuneRun[]>([]);

  readonly collecting = $derived(this.collectJobId !== null);
  readonly runActive = $derived(this.run !== null && ['starting', 'running', 'pausing'].includes(this.run.state));
  readonly canStart = $derived(
    this.faceSet !== null && this.faceSet.counts.train > 0 && this.name.trim() !== '' && !this.runActive,
  );

  /** crop URLs by face, to revoke when the set goes; nothing renders from this map */
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- plain bookkeeping, not state
  private readonly faceUrls = new Map<string, string>();
  private readonly previewSlot: ObjectUrlSlot;

  constructor(
    private readonly api: MienApi,
    private readonly notices: Notifications,
    private readonly urls: { create(blob: Blob): string; revoke(url: string): void } = {
      create: (blob) => URL.createObjectURL(blob),
      revoke: (url) => URL.revokeObjectURL(url),
    },
  ) {
    this.previewSlot = new ObjectUrlSlot(urls.create, urls.revoke);
  }

  /** Presets for the training form and the fine-tunes left paused (offered for resuming). */
  async load(): Promise<void> {
    try {
      const [presets, unfinished] = await Promise.all([this.api.finetunePresets(), this.api.unfinishedFinetunes()]);
      // Only the first time: a later visit keeps what the user chose.
      if (!this.presets) {
        this.preset = presets.defaultPreset;
        this.advanced = { ...presets.advanced };
      }
      this.presets = presets;
      this.unfinished = unfinished.filter((u) => u.jobId === null);
      // A run still training (the window was reloaded) is followed again rather than offered for resuming.
      const training = unfinished.find((u) => u.jobId !== null);
      if (training && !this.run) {
        this.run = {
          ...blankRun(training.runId, training.name, 'running'),
          jobId: training.jobId,
          step: training.stepsDone,
          totalSteps: training.totalSteps,
        };
      }
    } catch (error) {
      this.notices.error(error, 'Loading fine-tune settings');
    }
  }

  /** Starts finding faces; the set is loaded when the job ends. Returns the job id. */
  async collect(source: FaceSource): Promise<string | null> {
    try {
      const reply = await this.api.collectFaces(collectRequest(source));
      this.clearFaceSet();
      this.collectJobId = reply.jobId;
      this.pendingFaceSetId = reply.faceSetId;
      return reply.jobId;
    } catch (error) {
      this.notices.error(error, 'Finding faces');
      return null;
    }
  }

  async loadFaceSet(faceSetId: string): Promise<void> {
    try {
      const set = await this.api.faceSet(faceSetId);
      this.clearFaceSet();
      const faces = set.faces.map(({ image, mime, ...face }) => {
        const url = this.urls.create(new Blob([new Uint8Array(image)], { type: mime }));
        this.faceUrls.set(face.file, url);
        return { ...face, url };
      });
      this.faceSet = { ...set, faces };
    } catch (error) {
      this.notices.error(error, 'Loading the faces');
    }
  }

  setLabel(file: string, smiling: boolean): Promise<void> {
    const face = this.faceOf(file);
    return face && face.smiling !== smiling ? this.change({ file, smiling }) : Promise.resolve();
  }

  toggleHoldout(file: string): Promise<void> {
    const face = this.faceOf(file);
    return face ? this.change({ file, split: face.split === 'train' ? 'holdout' : 'train' }) : Promise.resolve();
  }

  exclude(file: string): Promise<void> {
    return this.change({ file, exclude: true });
  }

  /** The request the form makes: the preset, or the advanced values while that section is open. */
  startRequest(): RequestOf<'finetune:start'> | null {
    if (!this.faceSet) return null;
    return {
      faceSetId: this.faceSet.faceSetId,
      name: this.name.trim(),
      ...(this.preset ? { preset: this.preset } : {}),
      ...(this.advancedOpen && this.advanced ? { advanced: { ...this.advanced } } : {}),
    };
  }

  async start(): Promise<void> {
    const request = this.startRequest();
    if (!request || !this.canStart) return;
    this.run = blankRun('', request.name, 'starting');
    try {
      const { jobId, runId } = await this.api.startFinetune(request);
      this.attach(runId, request.name, jobId);
    } catch (error) {
      this.run = null;
      this.notices.error(error, 'Starting the fine-tune');
    }
  }

  async pause(): Promise<void> {
    const run = this.run;
    if (!run || run.state !== 'running') return;
    this.patchRun({ state: 'pausing' });
    try {
      await this.api.pauseFinetune(run.runId);
    } catch (error) {
      this.patchRun({ state: 'running' });
      this.notices.error(error, 'Pausing');
    }
  }

  /** Resumes the run on screen, or one of the paused ones listed. */
  async resume(runId = this.run?.runId): Promise<void> {
    if (!runId) return;
    const listed = this.unfinished.find((u) => u.runId === runId);
    const name = this.run?.runId === runId ? this.run.name : (listed?.name ?? runId);
    const previous = this.run?.runId === runId ? this.run : null;
    try {
      const { jobId } = await this.api.resumeFinetune(runId);
      // A run resumed from the list starts its chart from the history the first event brings.
      this.run = previous
        ? { ...previous, jobId, state: 'running', error: null }
        : {
            ...blankRun(runId, name, 'running'),
            jobId,
            step: listed?.stepsDone ?? 0,
            totalSteps: listed?.totalSteps ?? 0,
          };
      this.unfinished = this.unfinished.filter((u) => u.runId !== runId);
    } catch (error) {
      this.notices.error(error, 'Resuming the fine-tune');
    }
  }

  /** Stops (if it runs) and deletes a fine-tune's checkpoints; the caller asked the user first. */
  async discard(runId: string): Promise<boolean> {
    try {
      await this.api.discardFinetune(runId);
      if (this.run?.runId === runId) this.clearRun();
      this.unfinished = this.unfinished.filter((u) => u.runId !== runId);
      return true;
    } catch (error) {
      this.notices.error(error, 'Discarding the fine-tune');
      return false;
    }
  }

  async activateProfile(): Promise<void> {
    const profile = this.run?.profile;
    if (!profile) return;
    try {
      const model = await this.api.activateModel(profile.id);
      this.patchRun({ profile: model });
      this.notices.info(`Now using ${model.name}`);
    } catch (error) {
      this.notices.error(error, 'Activating the profile');
    }
  }

  progress(event: FinetuneProgress): void {
    const run = this.run;
    if (!run || event.runId !== run.runId || ['finished', 'failed'].includes(run.state)) return;
    this.run = {
      ...run,
      stage: event.stage,
      step: event.step,
      totalSteps: event.totalSteps || run.totalSteps,
      phase: event.phase,
      etaSeconds: event.etaSeconds,
      message: event.message,
      points: mergePoints(run.points, event.points),
    };
  }

  preview(event: FinetunePreview): void {
    if (!this.run || event.runId !== this.run.runId) return;
    const url = this.previewSlot.set(event.image, event.mime);
    this.patchRun({ previewUrl: url, previewStep: event.step });
  }

  /** A job ended: the face collection (load the set) or the run (finished, paused or failed). */
  async jobEnded(event: JobEnd): Promise<void> {
    if (event.jobId === this.collectJobId) {
      const faceSetId = this.pendingFaceSetId;
      this.collectJobId = null;
      this.pendingFaceSetId = null;
      if (event.state === 'done' && faceSetId) await this.loadFaceSet(faceSetId);
      return;
    }
    const run = this.run;
    if (!run || event.jobId !== run.jobId) return;
    if (event.state === 'cancelled') {
      this.patchRun({ state: 'paused', jobId: null, etaSeconds: 0 });
    } else if (event.state === 'failed') {
      this.patchRun({ state: 'failed', jobId: null, error: event.summary });
    } else {
      this.patchRun({ state: 'finished', jobId: null, step: run.totalSteps, etaSeconds: 0, stage: 'evaluating' });
      await this.loadProfile(run.runId);
    }
  }

  /** Back to the start: a new fine-tune of other faces (the profile made stays in Models). */
  reset(): void {
    this.clearRun();
    this.clearFaceSet();
    this.name = '';
  }

  private async loadProfile(id: string): Promise<void> {
    try {
      const profile = (await this.api.listModels()).find((m) => m.id === id) ?? null;
      this.patchRun({ profile });
    } catch (error) {
      this.notices.error(error, 'Reading the new profile');
    }
  }

  private attach(runId: string, name: string, jobId: string): void {
    const run = this.run;
    // Events may have come before the reply that named the run: keep what they brought.
    this.run = { ...(run ?? blankRun(runId, name, 'running')), runId, name, jobId, state: 'running' };
  }

  private async change(change: RequestOf<'finetune:relabel'>['changes'][number]): Promise<void> {
    const set = this.faceSet;
    if (!set || this.saving) return;
    this.saving = true;
    try {
      const summary = await this.api.relabelFaces(set.faceSetId, [change]);
      this.faceSet = {
        ...summary,
        faces: summary.faces.map((face) => ({ ...face, url: this.faceUrls.get(face.file) ?? '' })),
      };
    } catch (error) {
      this.notices.error(error, 'Correcting the face set');
    } finally {
      this.saving = false;
    }
  }

  private faceOf(file: string): ReviewFace | undefined {
    return this.faceSet?.faces.find((f) => f.file === file);
  }

  private patchRun(patch: Partial<RunView>): void {
    if (this.run) this.run = { ...this.run, ...patch };
  }

  private clearRun(): void {
    this.previewSlot.clear();
    this.run = null;
  }

  private clearFaceSet(): void {
    for (const url of this.faceUrls.values()) this.urls.revoke(url);
    this.faceUrls.clear();
    this.faceSet = null;
  }
}

function blankRun(runId: string, name: string, state: RunState): RunView {
  return {
    runId,
    name,
    jobId: null,
    state,
    stage: 'loading',
    step: 0,
    totalSteps: 0,
    phase: 1,
    etaSeconds: 0,
    message: '',
    points: [],
    previewUrl: null,
    previewStep: null,
    error: null,
    profile: null,
  };
}

/** New points after the old ones; a resumed run's history replaces what overlaps. */
export function mergePoints(old: LossPoint[], incoming: LossPoint[]): LossPoint[] {
  if (incoming.length === 0) return old;
  const from = incoming[0]!.step;
  return [...old.filter((p) => p.step < from), ...incoming];
}

export function collectRequest(source: FaceSource): RequestOf<'finetune:collect'> {
  switch (source.kind) {
    case 'folder':
      return { source: { folder: source.folder, recursive: source.recursive } };
    case 'selection':
      return { source: { photos: source.photos } };
    case 'person':
      return {
        source: { folder: source.folder, recursive: source.recursive },
        person: { photo: source.photo, faceId: source.faceId },
      };
  }
}
