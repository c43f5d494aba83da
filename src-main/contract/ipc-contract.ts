import { z } from 'zod';

/*
 * The one contract between the renderer and the main process. Every request
 * channel (`domain:verb`) has a zod schema for its payload and its reply, every
 * event a schema for its body. The main process validates each payload against
 * it (Electron's ipcMain and the loopback WebSocket host alike); the renderer
 * imports this module for its types only.
 */

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const filePath = z.string().min(1, 'must be a path').max(4096, 'path too long');

/** Expression values: 0 neutral, 1 smiling; beyond that an exaggeration, kept in a sane range. */
export const expressionValue = finite.min(-1, 'expression below -1').max(2, 'expression above 2');

export const cropFrameSchema = z.object({
  centerX: finite,
  centerY: finite,
  size: finite.positive(),
  angle: finite,
});
export type CropFrame = z.infer<typeof cropFrameSchema>;

export const faceBoxSchema = z.object({ x: finite, y: finite, width: finite, height: finite });

export const faceSchema = z.object({
  id: z.string(),
  box: faceBoxSchema,
  /** the aligned crop the model sees (photo pixels, EXIF orientation applied) */
  frame: cropFrameSchema,
  /** the classifier's smile probability: the expression the face shows now */
  smile: z.number(),
  /** the classifier's strongest expression ("happy", "neutral", ...) */
  expression: z.string(),
  score: z.number(),
});
export type Face = z.infer<typeof faceSchema>;

/** What the user chose for one face: its (maybe adjusted) crop and the expression wanted. */
export const faceChoiceSchema = z.object({
  id: z.string().min(1),
  frame: cropFrameSchema.optional(),
  target: expressionValue,
});
export type FaceChoice = z.infer<typeof faceChoiceSchema>;

export const photoEntrySchema = z.object({
  path: z.string(),
  name: z.string(),
  /** folder of the photo relative to the opened folder ('' at its top) */
  folder: z.string(),
  bytes: z.number(),
  modifiedMs: z.number(),
  /** faces recorded in its edit record, if it has one */
  editedFaces: z.number().int().nonnegative(),
});
export type PhotoEntry = z.infer<typeof photoEntrySchema>;

export const editRecordFaceSchema = z.object({
  id: z.string(),
  frame: cropFrameSchema,
  source: z.number(),
  target: z.number(),
});

export const backendStatusSchema = z.object({
  name: z.string(),
  /** "GPU (CUDA)", "CPU (native)", "WebAssembly", "plain JS" */
  label: z.string(),
  skipped: z.array(z.object({ name: z.string(), reason: z.string() })),
});

export const modelEntrySchema = z.object({
  id: z.string(),
  name: z.string(),
  file: z.string(),
  bytes: z.number(),
  builtIn: z.boolean(),
  active: z.boolean(),
  preset: z.string(),
  size: z.number(),
  createdAt: z.string(),
  /** evaluation figures recorded with the model, if any */
  metrics: z.record(z.string(), z.number()),
});
export type ModelEntry = z.infer<typeof modelEntrySchema>;

export const exportFormatSchema = z.enum(['same', 'jpeg', 'png', 'webp']);
export const pairLayoutSchema = z.enum(['side-by-side', 'files', 'both']);

export const settingsSchema = z.object({
  backend: z.enum(['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']),
  exportFormat: exportFormatSchema,
  exportQuality: z.number().int().min(1).max(100),
  keepMetadata: z.boolean(),
  pairLayout: pairLayoutSchema,
  pairLabels: z.boolean(),
});
export type Settings = z.infer<typeof settingsSchema>;

export const jobKindSchema = z.enum(['batch', 'pairs', 'training']);

const empty = z.object({}).strict();
const ok = z.object({ ok: z.literal(true) });

/** Every request channel: its payload and its reply. */
export const requests = {
  'app:status': {
    request: empty,
    reply: z.object({
      version: z.string(),
      backend: backendStatusSchema,
      model: z.object({ name: z.string(), file: z.string() }).nullable(),
      /** why no model is loaded (missing or damaged file), named for the user */
      modelError: z.string().nullable(),
      /** the shell can show native dialogs (Electron) or not (browser host) */
      nativeDialogs: z.boolean(),
    }),
  },
  'library:chooseFolder': {
    request: z.object({ purpose: z.enum(['open', 'output']) }).strict(),
    reply: z.object({ folder: z.string().nullable() }),
  },
  'library:open': {
    request: z.object({ folder: filePath, recursive: z.boolean().default(false) }).strict(),
    reply: z.object({ folder: z.string(), photos: z.array(photoEntrySchema) }),
  },
  'library:recent': {
    request: empty,
    reply: z.object({ folders: z.array(z.string()) }),
  },
  'photo:faces': {
    request: z.object({ photo: filePath }).strict(),
    reply: z.object({ width: z.number(), height: z.number(), faces: z.array(faceSchema) }),
  },
  'photo:preview': {
    request: z
      .object({
        photo: filePath,
        faces: z.array(faceChoiceSchema).max(64),
        /** longest side of the preview image */
        maxSide: z.number().int().min(64).max(4096).default(1600),
      })
      .strict(),
    reply: z.object({
      image: z.custom<Uint8Array>((v) => v instanceof Uint8Array),
      mime: z.string(),
      width: z.number(),
      height: z.number(),
    }),
  },
  'photo:edits': {
    request: z.object({ photo: filePath }).strict(),
    reply: z.object({ faces: z.array(editRecordFaceSchema), stale: z.boolean() }).nullable(),
  },
  'photo:saveEdits': {
    request: z.object({ photo: filePath, faces: z.array(editRecordFaceSchema).max(64) }).strict(),
    reply: ok,
  },
  'photo:export': {
    request: z
      .object({
        photo: filePath,
        faces: z.array(faceChoiceSchema).max(64),
        outDir: filePath,
        format: exportFormatSchema.default('same'),
        quality: z.number().int().min(1).max(100).default(92),
        keepMetadata: z.boolean().default(true),
      })
      .strict(),
    reply: z.object({ file: z.string() }),
  },
  'pairs:export': {
    request: z
      .object({
        photos: z.array(filePath).min(1).max(10_000),
        /** per-photo choices; photos without any get `target` on every face */
        faces: z.record(z.string(), z.array(faceChoiceSchema).max(64)).default({}),
        target: expressionValue.default(1),
        outDir: filePath,
        layout: pairLayoutSchema.default('side-by-side'),
        labels: z.boolean().default(true),
        format: z.enum(['jpg', 'png', 'webp']).optional(),
        quality: z.number().int().min(1).max(100).default(90),
      })
      .strict(),
    reply: z.object({ jobId: z.string() }),
  },
  'batch:start': {
    request: z
      .object({
        /** a whole folder, or the photos the user selected */
        source: z.union([
          z.object({ folder: filePath, recursive: z.boolean().default(false) }).strict(),
          z.object({ photos: z.array(filePath).min(1).max(100_000) }).strict(),
        ]),
        target: expressionValue,
        outDir: filePath,
        format: exportFormatSchema.default('same'),
        quality: z.number().int().min(1).max(100).default(92),
        keepMetadata: z.boolean().default(true),
      })
      .strict(),
    reply: z.object({ jobId: z.string() }),
  },
  'job:cancel': {
    request: z.object({ jobId: z.string().min(1) }).strict(),
    reply: ok,
  },
  'models:list': {
    request: empty,
    reply: z.object({ models: z.array(modelEntrySchema) }),
  },
  'models:import': {
    /** without a file the shell asks for one with a native dialog */
    request: z.object({ file: filePath.optional(), name: z.string().max(100).optional() }).strict(),
    reply: z.object({ model: modelEntrySchema.nullable() }),
  },
  'models:export': {
    request: z.object({ id: z.string().min(1), file: filePath.optional() }).strict(),
    reply: z.object({ file: z.string().nullable() }),
  },
  'models:activate': {
    request: z.object({ id: z.string().min(1) }).strict(),
    reply: z.object({ model: modelEntrySchema }),
  },
  'models:delete': {
    /** `confirmed` is the user's answer to "delete this model?" in the UI */
    request: z.object({ id: z.string().min(1), confirmed: z.literal(true) }).strict(),
    reply: ok,
  },
  'settings:get': {
    request: empty,
    reply: settingsSchema,
  },
  'settings:set': {
    request: settingsSchema.partial().strict(),
    reply: settingsSchema,
  },
} as const;

export const jobProgressSchema = z.object({
  jobId: z.string(),
  kind: jobKindSchema,
  done: z.number(),
  total: z.number(),
  /** e.g. the file being worked on */
  message: z.string(),
  ratePerSecond: z.number(),
  etaSeconds: z.number(),
});
export type JobProgress = z.infer<typeof jobProgressSchema>;

export const jobEndSchema = z.object({
  jobId: z.string(),
  kind: jobKindSchema,
  state: z.enum(['done', 'cancelled', 'failed']),
  /** one line for the user */
  summary: z.string(),
  /** per-file problems that did not stop the job */
  errors: z.array(z.object({ file: z.string(), error: z.string() })),
  files: z.array(z.string()),
});
export type JobEnd = z.infer<typeof jobEndSchema>;

/** Every event the main process sends. */
export const events = {
  'job:progress': jobProgressSchema,
  'job:end': jobEndSchema,
  'app:status': requests['app:status'].reply,
} as const;

export type RequestChannel = keyof typeof requests;
export type EventChannel = keyof typeof events;
/** What the renderer sends (defaults may be left out). */
export type RequestOf<C extends RequestChannel> = z.input<(typeof requests)[C]['request']>;
/** What a handler receives (defaults filled in). */
export type ParsedRequestOf<C extends RequestChannel> = z.output<(typeof requests)[C]['request']>;
export type ReplyOf<C extends RequestChannel> = z.output<(typeof requests)[C]['reply']>;
export type EventOf<E extends EventChannel> = z.output<(typeof events)[E]>;

export const requestChannels = Object.keys(requests) as RequestChannel[];
export const eventChannels = Object.keys(events) as EventChannel[];

/** Every reply crosses the boundary wrapped, so a failure arrives as a readable message, not a rejected promise. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: { message: string; code: string } };

/** The bridge the preload exposes as `window.mien` (and the browser host's client imitates). */
export interface MienBridge {
  invoke<C extends RequestChannel>(channel: C, payload: RequestOf<C>): Promise<Envelope<ReplyOf<C>>>;
  on<E extends EventChannel>(event: E, listener: (body: EventOf<E>) => void): () => void;
  /** URL of a photo (or its thumbnail) the renderer may show */
  photoUrl(photo: string, thumbnailSize?: number): string;
  /** path of a dropped file (Electron only) */
  pathOfDroppedFile?(file: File): string;
}
