import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { readCheckpoint, readCheckpointHeader, type CheckpointHeader } from '../model/checkpoint.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { FileError } from '../util/file-error.js';
import { slug } from '../util/slug.js';

export class ModelLibraryError extends FileError {}

export interface ModelInfo {
  id: string;
  name: string;
  file: string;
  bytes: number;
  builtIn: boolean;
  preset: string;
  size: number;
  createdAt: string;
  metrics: Record<string, number>;
  /** the model a fine-tuned profile was tuned from, as its record names it */
  tunedFrom?: { name: string; file: string; profileId?: string };
}

/** Id of the model that ships with the app. */
export const builtInModelId = 'default';

/**
 * The models a user can choose from: the one shipped with the app (read-only)
 * and those imported or fine-tuned, kept as `<id>.mien` in the app's own
 * folder. Every file is checked (magic, header, weights' SHA-256) before it
 * joins the library.
 */
export class ModelLibrary {
  constructor(
    private readonly builtInFile: string,
    private readonly dir: string,
  ) {}

  async list(): Promise<ModelInfo[]> {
    const models: ModelInfo[] = [];
    const builtIn = await this.describe(builtInModelId, this.builtInFile, true).catch(() => undefined);
    if (builtIn) models.push(builtIn);
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.mien')).sort()) {
      const info = await this.describe(path.basename(name, '.mien'), path.join(this.dir, name), false).catch(
        () => undefined,
      );
      if (info) models.push(info);
    }
    return models;
  }

  async get(id: string): Promise<ModelInfo> {
    const model = (await this.list()).find((m) => m.id === id);
    if (!model) throw new ModelLibraryError(id, 'no such model in the library');
    return model;
  }

  /** Copies a checkpoint into the library after verifying it; the source file is only read. */
  async import(file: string, name?: string): Promise<ModelInfo> {
    const checkpoint = await readCheckpoint(file);
    const base = slug(
      name ?? String(checkpoint.header.meta['name'] ?? path.basename(file, path.extname(file))),
      'model',
    );
    const id = `${base}-${randomBytes(3).toString('hex')}`;
    const target = path.join(this.dir, `${id}.mien`);
    await mkdir(this.dir, { recursive: true });
    const about = { name: name ?? displayName(checkpoint.header, id), importedFrom: path.resolve(file) };
    await writeFileAtomic(this.aboutFile(id), [Buffer.from(JSON.stringify(about, null, 2))]);
    await writeFileAtomic(target, [await readFile(file)]);
    return this.describe(id, target, false);
  }

  /** Writes a copy of a model to `file` (never over the library's own files). */
  async export(id: string, file: string): Promise<string> {
    const model = await this.get(id);
    if (path.resolve(file) === path.resolve(model.file)) throw new ModelLibraryError(file, 'is the model itself');
    await writeFileAtomic(file, [await readFile(model.file)]);
    return file;
  }

  async remove(id: string): Promise<void> {
    if (id === builtInModelId) throw new ModelLibraryError(id, 'the model that ships with Mien cannot be deleted');
    const model = await this.get(id);
    await rm(model.file);
    await rm(this.aboutFile(id), { force: true });
    // A fine-tuned profile keeps its last preview grid beside it.
    await rm(path.join(this.dir, `${id}.preview.png`), { force: true });
  }

  /** What the user called an imported model, beside its file. */
  private aboutFile(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  private async nameOf(id: string): Promise<string | undefined> {
    const text = await readFile(this.aboutFile(id), 'utf8').catch(() => undefined);
    try {
      const name: unknown = text && (JSON.parse(text) as { name?: unknown }).name;
      return typeof name === 'string' ? name : undefined;
    } catch {
      return undefined;
    }
  }

  private async describe(id: string, file: string, builtIn: boolean): Promise<ModelInfo> {
    const [header, info] = await Promise.all([readCheckpointHeader(file), stat(file)]);
    const name = builtIn ? undefined : await this.nameOf(id);
    return {
      id,
      name: name ?? displayName(header, builtIn ? 'Default model' : id),
      file,
      bytes: info.size,
      builtIn,
      preset: header.config.preset,
      size: header.config.size,
      createdAt: header.createdAt,
      metrics: numericFields(header.meta['metrics']),
      ...tunedFrom(header),
    };
  }
}

/** A fine-tuned profile records its base in `meta.finetune.from`; other models have none. */
function tunedFrom(header: CheckpointHeader): Pick<ModelInfo, 'tunedFrom'> {
  const finetune = header.meta['finetune'];
  const from = typeof finetune === 'object' && finetune !== null ? (finetune as { from?: unknown }).from : undefined;
  if (typeof from !== 'object' || from === null) return {};
  const { name, file, profileId } = from as Record<string, unknown>;
  if (typeof name !== 'string' || typeof file !== 'string') return {};
  return { tunedFrom: { name, file, ...(typeof profileId === 'string' ? { profileId } : {}) } };
}

function displayName(header: CheckpointHeader, fallback: string): string {
  const name = header.meta['name'];
  return typeof name === 'string' && name.length > 0 ? name : fallback;
}

/** The numeric fields of an object (e.g. an eval report's figures). */
export function numericFields(value: unknown): Record<string, number> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
  );
}
