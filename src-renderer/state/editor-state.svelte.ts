import type { CropFrame, Face, FaceChoice } from '../../src-main/contract/ipc-contract.js';
import type { EditRecordFace } from '../lib/api.js';
import { clampFrame, framesEqual } from '../lib/frame-geometry.js';

export type Expression = 'neutral' | 'smiling';

/** What the user set for one face. */
export interface FaceSettings {
  expression: Expression;
  /** how far towards the expression: 1 fully, 0.5 half way, 1.5 beyond */
  intensity: number;
  frame: CropFrame;
}

export const intensityRange = { min: -0.5, max: 1.5, step: 0.05 } as const;

const clampIntensity = (value: number) =>
  Math.min(intensityRange.max, Math.max(intensityRange.min, Math.round(value * 100) / 100));

/** The model's expression value: 0 neutral, 1 smiling; Neutral at intensity 1.5 is -0.5, a firmer neutral. */
export function targetOf(settings: Pick<FaceSettings, 'expression' | 'intensity'>): number {
  return settings.expression === 'smiling' ? settings.intensity : 1 - settings.intensity;
}

/** The inverse of targetOf, for edits read back from a photo's edit record. */
export function settingsOfTarget(target: number): Pick<FaceSettings, 'expression' | 'intensity'> {
  return target >= 0.5
    ? { expression: 'smiling', intensity: clampIntensity(target) }
    : { expression: 'neutral', intensity: clampIntensity(1 - target) };
}

/** A face as detected: the expression it shows, at full intensity, in its aligned frame. */
export function baselineOf(face: Face): FaceSettings {
  return { expression: face.smile >= 0.5 ? 'smiling' : 'neutral', intensity: 1, frame: { ...face.frame } };
}

function sameSettings(a: FaceSettings, b: FaceSettings): boolean {
  return a.expression === b.expression && Math.abs(a.intensity - b.intensity) < 1e-9 && framesEqual(a.frame, b.frame);
}

type Choices = Readonly<Record<string, FaceSettings>>;

export type DetectionStatus = 'idle' | 'detecting' | 'ready' | 'failed';

/**
 * The photo open in the editor: its faces, what the user chose for each, and
 * undo/redo over those choices. Choices are immutable snapshots, so undo puts
 * back exactly the frames and values that were there.
 */
export class EditorState {
  photo = $state<string | null>(null);
  status = $state<DetectionStatus>('idle');
  error = $state<string | null>(null);
  width = $state(0);
  height = $state(0);
  faces = $state.raw<Face[]>([]);
  selectedFaceId = $state<string | null>(null);
  /** the saved edits were recorded on an earlier version of the file */
  staleEdits = $state(false);

  choices = $state.raw<Choices>({});
  /** bumped on every change of the choices, so effects (preview, autosave) can follow them */
  revision = $state(0);

  private past = $state.raw<Choices[]>([]);
  private future = $state.raw<Choices[]>([]);
  /** consecutive changes of one gesture (a slider drag, a crop drag) make a single undo step */
  private openGesture: string | null = null;

  readonly canUndo = $derived(this.past.length > 0);
  readonly canRedo = $derived(this.future.length > 0);
  readonly selectedFace = $derived(this.faces.find((f) => f.id === this.selectedFaceId) ?? null);
  readonly editedIds = $derived(this.faces.filter((f) => this.isEdited(f.id)).map((f) => f.id));
  readonly hasEdits = $derived(this.editedIds.length > 0);

  /** A new photo: everything from the previous one goes. */
  open(photo: string): void {
    this.photo = photo;
    this.status = 'detecting';
    this.error = null;
    this.faces = [];
    this.width = 0;
    this.height = 0;
    this.selectedFaceId = null;
    this.staleEdits = false;
    this.choices = {};
    this.past = [];
    this.future = [];
    this.openGesture = null;
    this.revision++;
  }

  failed(message: string): void {
    this.status = 'failed';
    this.error = message;
  }

  /** Detection finished; `saved` restores the photo's edit record (faces it no longer finds are dropped). */
  detected(
    result: { width: number; height: number; faces: Face[] },
    saved: { faces: EditRecordFace[]; stale: boolean } | null = null,
  ): void {
    this.width = result.width;
    this.height = result.height;
    this.faces = result.faces;
    const choices: Record<string, FaceSettings> = {};
    for (const face of result.faces) {
      const record = saved?.faces.find((f) => f.id === face.id);
      choices[face.id] = record ? { ...settingsOfTarget(record.target), frame: { ...record.frame } } : baselineOf(face);
    }
    this.choices = choices;
    this.staleEdits = saved?.stale ?? false;
    this.selectedFaceId = result.faces[0]?.id ?? null;
    this.status = 'ready';
    this.past = [];
    this.future = [];
    this.openGesture = null;
    this.revision++;
  }

  settingsOf(faceId: string): FaceSettings | null {
    return this.choices[faceId] ?? null;
  }

  isEdited(faceId: string): boolean {
    const face = this.faces.find((f) => f.id === faceId);
    const settings = this.choices[faceId];
    return !!face && !!settings && !sameSettings(settings, baselineOf(face));
  }

  selectFace(faceId: string | null): void {
    this.selectedFaceId = faceId;
  }

  setExpression(faceId: string, expression: Expression): void {
    this.change(faceId, { expression });
  }

  setIntensity(faceId: string, intensity: number, gesture?: string): void {
    this.change(faceId, { intensity: clampIntensity(intensity) }, gesture);
  }

  setFrame(faceId: string, frame: CropFrame, gesture?: string): void {
    this.change(faceId, { frame: clampFrame(frame, { width: this.width, height: this.height }) }, gesture);
  }

  /** Back to the face as detected (one undo step). */
  resetFace(faceId: string): void {
    const face = this.faces.find((f) => f.id === faceId);
    if (face) this.change(faceId, baselineOf(face));
  }

  resetAll(): void {
    const baseline = Object.fromEntries(this.faces.map((face) => [face.id, baselineOf(face)]));
    this.commit(baseline);
  }

  /** The end of a drag: the next change starts a new undo step. */
  endGesture(): void {
    this.openGesture = null;
  }

  undo(): void {
    const previous = this.past.at(-1);
    if (!previous) return;
    this.past = this.past.slice(0, -1);
    this.future = [...this.future, this.choices];
    this.choices = previous;
    this.openGesture = null;
    this.revision++;
  }

  redo(): void {
    const next = this.future.at(-1);
    if (!next) return;
    this.future = this.future.slice(0, -1);
    this.past = [...this.past, this.choices];
    this.choices = next;
    this.openGesture = null;
    this.revision++;
  }

  /** Every face's choice for preview and export; faces left alone ask for the expression they have (no change). */
  faceChoices(): FaceChoice[] {
    return this.faces.flatMap((face) => {
      const settings = this.choices[face.id];
      if (!settings) return [];
      const target = this.isEdited(face.id) ? targetOf(settings) : face.smile;
      return [{ id: face.id, frame: { ...settings.frame }, target }];
    });
  }

  /** The edit record to save: the edited faces only. */
  editRecord(): EditRecordFace[] {
    return this.faces.flatMap((face) => {
      const settings = this.choices[face.id];
      if (!settings || !this.isEdited(face.id)) return [];
      return [{ id: face.id, frame: { ...settings.frame }, source: face.smile, target: targetOf(settings) }];
    });
  }

  private change(faceId: string, patch: Partial<FaceSettings>, gesture?: string): void {
    const current = this.choices[faceId];
    if (!current) return;
    const next = { ...current, ...patch };
    if (sameSettings(next, current)) return;
    this.commit({ ...this.choices, [faceId]: next }, gesture ? `${faceId}:${gesture}` : undefined);
  }

  private commit(next: Choices, gesture?: string): void {
    // Within one gesture only the state before it is kept, so undo jumps back over the whole drag.
    if (!gesture || gesture !== this.openGesture) {
      this.past = [...this.past, this.choices].slice(-200);
      this.future = [];
    }
    this.openGesture = gesture ?? null;
    this.choices = next;
    this.revision++;
  }
}
