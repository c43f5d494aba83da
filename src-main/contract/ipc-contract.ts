import { z } from 'zod';

/*
 * The one contract between the renderer and the main process. Every request
 * channel (`domain:verb`) has a zod schema for its payload and its reply, every
 * event a schema for its body. The main process validates each payload against
 * it (Electron's ipcMain and the loopback WebSocket host alike); the renderer
 * imports this module for its types only (and the settings' defaults as data
 * from default-settings.ts, which this module re-exports).
 */

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const filePath = z.string().min(1, 'must be a path').max(4096, 'path too long');
const binary = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be binary data');

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

/** A box of a photo in its upright full-resolution pixels (what a zoomed-in editor shows). */
export const photoRegionSchema = z
  .object({
    left: z.number().int().min(0),
    top: z.number().int().min(0),
    width: z.number().int().min(1).max(100_000),
    height: z.number().int().min(1).max(100_000),
  })
  .strict();
export type PhotoRegion = z.infer<typeof photoRegionSchema>;

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

/** Photo files a folder holds in formats that cannot be read (HEIC, camera raw...): how many, which kinds. */
export const unreadableFilesSchema = z.object({
  count: z.number().int().nonnegative(),
  extensions: z.array(z.string()),
});
export type UnreadableFiles = z.infer<typeof unreadableFilesSchema>;

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

/** What a model achieves on held-out faces; null where a figure could not be computed. */
export const holdoutFiguresSchema = z.object({
  /** share of edits the classifier reads as the expression asked for */
  expressionSuccess: z.number().nullable(),
  /** median identity-descriptor distance between a face and its edit (lower keeps the person better) */
  identityDistance: z.number().nullable(),
  /** reconstruction PSNR in dB */
  psnr: z.number().nullable(),
  /** share of edits whose mouth stays as sharp as the photo's (what the expression classifier does not see) */
  mouthSharpnessKept: z.number().nullable(),
});
export type HoldoutFigures = z.infer<typeof holdoutFiguresSchema>;

export const profileComparisonSchema = z.object({
  /** held-out faces both models were measured on */
  faces: z.number(),
  base: holdoutFiguresSchema.nullable(),
  tuned: holdoutFiguresSchema,
});
export type ProfileComparison = z.infer<typeof profileComparisonSchema>;

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
  /** a fine-tuned profile's figures next to its base's, on the same held-out faces */
  comparison: profileComparisonSchema.optional(),
  /** the model a fine-tuned profile was tuned from */
  tunedFrom: z.object({ name: z.string(), id: z.string().nullable() }).optional(),
});
export type ModelEntry = z.infer<typeof modelEntrySchema>;

export const exportFormatSchema = z.enum(['same', 'jpeg', 'png', 'webp']);
export const pairLayoutSchema = z.enum(['side-by-side', 'files', 'both']);
/** Which network finds faces in a batch (see DetectOptions in the core's detect-faces.ts). */
export const faceDetectorSchema = z.enum(['accurate', 'fast']);

export const settingsSchema = z.object({
  backend: z.enum(['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']),
  exportFormat: exportFormatSchema,
  exportQuality: z.number().int().min(1).max(100),
  keepMetadata: z.boolean(),
  pairLayout: pairLayoutSchema,
  pairLabels: z.boolean(),
});
export type Settings = z.infer<typeof settingsSchema>;
export { defaultSettings } from './default-settings.js';

export const jobKindSchema = z.enum(['batch', 'pairs', 'training', 'faces', 'finetune']);

/** Ids the services make for face sets and fine-tune runs: plain, file-name-safe. */
const storeId = z
  .string()
  .min(1)
  .max(60)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'not a valid id');

export const finetunePresetSchema = z.enum(['quick', 'balanced', 'best']);
export type FinetunePreset = z.infer<typeof finetunePresetSchema>;

export const faceWarningSchema = z.object({
  code: z.enum(['no-faces', 'too-few-faces', 'one-expression', 'few-of-one-expression']),
  message: z.string(),
});

export const faceSplitSchema = z.enum(['train', 'holdout']);

/** One face of a face set as the review grid shows it. */
export const faceSetFaceSchema = z.object({
  /** the face's name within its set (its crop file) */
  file: z.string(),
  smiling: z.boolean(),
  split: faceSplitSchema,
  /** the expression classifier's smile probability when the face was collected */
  detectedSmile: z.number(),
  /** the user changed the classifier's label */
  corrected: z.boolean(),
  photo: z.string(),
  faceId: z.string(),
});
export type FaceSetFace = z.infer<typeof faceSetFaceSchema>;

export const faceSetSummarySchema = z.object({
  faceSetId: z.string(),
  faces: z.array(faceSetFaceSchema),
  counts: z.object({ train: z.number(), holdout: z.number(), smiling: z.number(), neutral: z.number() }),
  /** about the training faces: too few, one expression only */
  warnings: z.array(faceWarningSchema),
});
export type FaceSetSummary = z.infer<typeof faceSetSummarySchema>;

export const finetuneRunSchema = z.object({
  runId: z.string(),
  name: z.string(),
  stepsDone: z.number(),
  totalSteps: z.number(),
  /** the job training it now, when it runs */
  jobId: z.string().nullable(),
});
export type FinetuneRun = z.infer<typeof finetuneRunSchema>;

export const lossPointSchema = z.object({
  step: z.number(),
  phase: z.number(),
  reconstruction: z.number(),
  adversarial: z.number(),
  discriminator: z.number(),
  discriminatorAccuracy: z.number(),
});
export type LossPoint = z.infer<typeof lossPointSchema>;

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
  /** the file (an export, a batch's output) selected in the system's file manager; desktop shell only */
  'file:showInFolder': {
    request: z.object({ path: filePath }).strict(),
    reply: ok,
  },
  'library:open': {
    request: z.object({ folder: filePath, recursive: z.boolean().default(false) }).strict(),
    reply: z.object({
      folder: z.string(),
      photos: z.array(photoEntrySchema),
      unreadable: unreadableFilesSchema,
    }),
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
        /** only this box of the photo, edited at full resolution (a zoomed-in view); the whole photo without it */
        region: photoRegionSchema.optional(),
      })
      .strict(),
    reply: z.object({
      image: binary,
      mime: z.string(),
      width: z.number(),
      height: z.number(),
      /** the box of the photo the image shows (the region asked for, kept inside the photo) */
      region: photoRegionSchema,
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
        /** the face detector: 'accurate' (default) or 'fast' (quicker; can miss small or partly hidden faces) */
        detector: faceDetectorSchema.optional(),
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
  'finetune:collect': {
    /**
     * Finds, aligns and labels the faces of photos (inside opened folders) as a
     * new face set; a job. With `person`, only the faces of the person shown as
     * that face of that photo. The set can be read once the job ends as done.
     */
    request: z
      .object({
        source: z.union([
          z.object({ folder: filePath, recursive: z.boolean().default(false) }).strict(),
          z.object({ photos: z.array(filePath).min(1).max(10_000) }).strict(),
        ]),
        person: z
          .object({ photo: filePath, faceId: z.string().min(1).max(40) })
          .strict()
          .optional(),
        /** faces to hold out for validation (default: about one in eight) */
        holdout: z.number().int().min(0).max(50).optional(),
      })
      .strict(),
    reply: z.object({ jobId: z.string(), faceSetId: z.string() }),
  },
  'finetune:faceSet': {
    /** the set with each face's crop (a small PNG) for the review grid */
    request: z.object({ faceSetId: storeId }).strict(),
    reply: faceSetSummarySchema.extend({
      faces: z.array(faceSetFaceSchema.extend({ image: binary, mime: z.string() })),
    }),
  },
  'finetune:relabel': {
    /** the user's corrections before training: label, split, or the face left out */
    request: z
      .object({
        faceSetId: storeId,
        changes: z
          .array(
            z
              .object({
                file: z.string().min(1).max(100),
                smiling: z.boolean().optional(),
                split: faceSplitSchema.optional(),
                exclude: z.literal(true).optional(),
              })
              .strict(),
          )
          .min(1)
          .max(10_000),
      })
      .strict(),
    reply: faceSetSummarySchema,
  },
  'finetune:presets': {
    /** the presets with their time estimates, and the advanced values they start from for the active model */
    request: empty,
    reply: z.object({
      presets: z.array(z.object({ id: finetunePresetSchema, steps: z.number(), description: z.string() })),
      defaultPreset: finetunePresetSchema,
      advanced: z.object({ steps: z.number(), learningRate: z.number(), mu: z.number(), wholeNetwork: z.boolean() }),
    }),
  },
  'finetune:start': {
    /** fine-tunes the active model on a face set into a new profile; a job */
    request: z
      .object({
        faceSetId: storeId,
        name: z.string().trim().min(1, 'give the profile a name').max(60, 'name too long'),
        /** absent: the default preset, which the presets reply names */
        preset: finetunePresetSchema.optional(),
        /** overrides the preset */
        advanced: z
          .object({
            steps: z.number().int().min(1).max(20_000).optional(),
            learningRate: finite.positive().max(0.01, 'learning rate above 0.01').optional(),
            mu: finite.min(0).max(1, 'mu above 1').optional(),
            /** tune the encoder and discriminator too, not the decoder alone */
            wholeNetwork: z.boolean().optional(),
          })
          .strict()
          .optional(),
      })
      .strict(),
    reply: z.object({ jobId: z.string(), runId: z.string() }),
  },
  'finetune:pause': {
    /** stops at the next step boundary with a checkpoint; the job ends as cancelled */
    request: z.object({ runId: storeId }).strict(),
    reply: ok,
  },
  'finetune:resume': {
    request: z.object({ runId: storeId }).strict(),
    reply: z.object({ jobId: z.string(), runId: z.string() }),
  },
  'finetune:discard': {
    /** deletes a fine-tune's checkpoints (stopping it first); `confirmed` is the user's answer */
    request: z.object({ runId: storeId, confirmed: z.literal(true) }).strict(),
    reply: ok,
  },
  'finetune:unfinished': {
    /** fine-tunes paused or interrupted (the app closed, the worker died), to offer resuming */
    request: empty,
    reply: z.object({ runs: z.array(finetuneRunSchema) }),
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

export const finetuneProgressSchema = z.object({
  jobId: z.string(),
  runId: z.string(),
  /** what the run does now: reading faces, training, or measuring both models on the held-out faces */
  stage: z.enum(['loading', 'training', 'evaluating']),
  step: z.number(),
  totalSteps: z.number(),
  phase: z.number(),
  reconstruction: z.number(),
  adversarial: z.number(),
  discriminator: z.number(),
  discriminatorAccuracy: z.number(),
  etaSeconds: z.number(),
  /** loss points since the previous event (a resumed run's first event brings its history) */
  points: z.array(lossPointSchema),
  /** e.g. "evaluating the base model: 2 of 4 faces" */
  message: z.string(),
});
export type FinetuneProgress = z.infer<typeof finetuneProgressSchema>;

export const finetunePreviewSchema = z.object({
  jobId: z.string(),
  runId: z.string(),
  step: z.number(),
  /** held-out faces, one per row: original | smile off | smile on */
  image: binary,
  mime: z.string(),
});
export type FinetunePreview = z.infer<typeof finetunePreviewSchema>;

/** Every event the main process sends. */
export const events = {
  'job:progress': jobProgressSchema,
  'job:end': jobEndSchema,
  'finetune:progress': finetuneProgressSchema,
  'finetune:preview': finetunePreviewSchema,
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
