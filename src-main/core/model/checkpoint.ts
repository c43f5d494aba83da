import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { modelSizes, presetNames } from './presets.js';
import { FileError } from '../util/file-error.js';

/*
 * One self-contained file per checkpoint: an 8-byte magic, a little-endian
 * u32 header length, a JSON header, then the tensors' bytes. The header holds
 * a SHA-256 of the payload, so a truncated or corrupted file is refused with a
 * clear message instead of loading garbage weights.
 */

const magic = Buffer.from('MIENCKPT', 'ascii');
const formatVersion = 1;

export class CheckpointError extends FileError {}

const tensorEntry = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.enum(['float32', 'float16']),
  offset: z.number().int().nonnegative(),
  byteLength: z.number().int().nonnegative(),
});

export const modelConfigSchema = z.object({
  preset: z.enum(presetNames),
  size: z.union(modelSizes.map((s) => z.literal(s)) as [z.ZodLiteral<64>, z.ZodLiteral<128>, z.ZodLiteral<256>]),
  attribute: z.string().min(1),
});

const headerSchema = z.object({
  format: z.literal(formatVersion),
  kind: z.enum(['model', 'training']),
  config: modelConfigSchema,
  createdAt: z.string(),
  /** free-form metadata owned by the writer (training state, metrics, provenance) */
  meta: z.record(z.string(), z.unknown()),
  tensors: z.array(tensorEntry),
  payloadSha256: z.string().length(64),
});

export type CheckpointHeader = z.infer<typeof headerSchema>;
export type CheckpointKind = CheckpointHeader['kind'];

export interface NamedArray {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface Checkpoint {
  header: CheckpointHeader;
  tensors: Map<string, NamedArray>;
}

export interface CheckpointWrite {
  kind: CheckpointKind;
  config: CheckpointHeader['config'];
  meta: Record<string, unknown>;
  tensors: NamedArray[];
  /** store weights as float16 (half the size; for shipped models) */
  half?: boolean;
}

export async function writeCheckpoint(file: string, contents: CheckpointWrite): Promise<void> {
  const entries: CheckpointHeader['tensors'] = [];
  const payload: Uint8Array[] = [];
  let offset = 0;
  for (const t of contents.tensors) {
    const bytes = contents.half
      ? float32ToFloat16Bytes(t.values)
      : new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength);
    entries.push({
      name: t.name,
      shape: t.shape,
      dtype: contents.half ? 'float16' : 'float32',
      offset,
      byteLength: bytes.byteLength,
    });
    payload.push(bytes);
    offset += bytes.byteLength;
  }
  const hash = createHash('sha256');
  for (const chunk of payload) hash.update(chunk);
  const header: CheckpointHeader = {
    format: formatVersion,
    kind: contents.kind,
    config: contents.config,
    createdAt: new Date().toISOString(),
    meta: contents.meta,
    tensors: entries,
    payloadSha256: hash.digest('hex'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(headerBytes.byteLength);
  await writeFileAtomic(file, [magic, length, headerBytes, ...payload]);
}

export async function readCheckpointHeader(file: string): Promise<CheckpointHeader> {
  return parseHeader(file, await readBytes(file)).header;
}

export async function readCheckpoint(file: string): Promise<Checkpoint> {
  return parseCheckpoint(file, await readBytes(file));
}

/** A checkpoint from its file's bytes (already read); `file` names it in errors. */
export function parseCheckpoint(file: string, bytes: Buffer): Checkpoint {
  const { header, payloadStart } = parseHeader(file, bytes);
  const payload = bytes.subarray(payloadStart);
  const actual = createHash('sha256').update(payload).digest('hex');
  if (actual !== header.payloadSha256) {
    throw new CheckpointError(file, 'weights are corrupted (checksum mismatch); the file was damaged or truncated');
  }
  const tensors = new Map<string, NamedArray>();
  for (const entry of header.tensors) {
    const expected = entry.shape.reduce((a, b) => a * b, 1) * (entry.dtype === 'float16' ? 2 : 4);
    if (entry.byteLength !== expected || entry.offset + entry.byteLength > payload.byteLength) {
      throw new CheckpointError(file, `tensor ${entry.name} has an inconsistent size`);
    }
    const raw = payload.subarray(entry.offset, entry.offset + entry.byteLength);
    const values = entry.dtype === 'float16' ? float16BytesToFloat32(raw) : new Float32Array(alignedCopy(raw));
    tensors.set(entry.name, { name: entry.name, shape: entry.shape, values });
  }
  return { header, tensors };
}

async function readBytes(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CheckpointError(file, 'file not found');
    throw new CheckpointError(file, `cannot be read (${code ?? String(error)})`);
  }
}

function parseHeader(file: string, bytes: Buffer): { header: CheckpointHeader; payloadStart: number } {
  if (bytes.byteLength < 12 || !bytes.subarray(0, 8).equals(magic)) {
    throw new CheckpointError(file, 'not a Mien checkpoint (wrong file type or empty file)');
  }
  const headerLength = bytes.readUInt32LE(8);
  if (12 + headerLength > bytes.byteLength) throw new CheckpointError(file, 'file is truncated');
  let json: unknown;
  try {
    json = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8'));
  } catch {
    throw new CheckpointError(file, 'header is not valid JSON; the file is damaged');
  }
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) {
    const version = (json as { format?: unknown }).format;
    if (version !== formatVersion) throw new CheckpointError(file, `unsupported checkpoint format ${String(version)}`);
    throw new CheckpointError(file, `header is invalid: ${parsed.error.issues[0]?.message ?? 'unknown problem'}`);
  }
  return { header: parsed.data, payloadStart: 12 + headerLength };
}

/** A fresh, aligned buffer (a Buffer's slice shares its parent's memory and offset). */
function alignedCopy(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

// ---- float16 storage ---------------------------------------------------------------

function float32ToFloat16Bytes(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i]!;
    out[i] = halfFromBits(u32[0]!);
  }
  return new Uint8Array(out.buffer);
}

/** IEEE 754 binary32 -> binary16 with round-to-nearest-even, subnormals and infinities. */
function halfFromBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa rounds up into the exponent, as it should.
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

function float16BytesToFloat32(raw: Uint8Array): Float32Array {
  const halves = new Uint16Array(alignedCopy(raw));
  const table = float16Table();
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]!]!;
  return out;
}

let halfValues: Float32Array | undefined;

/**
 * Every binary16 value as a float32, computed once: a model's millions of
 * weights are then decoded by lookup (a photo worker thread starts ~0.6 s
 * sooner than with the arithmetic per weight).
 */
function float16Table(): Float32Array {
  if (halfValues) return halfValues;
  halfValues = new Float32Array(0x10000);
  for (let h = 0; h < 0x10000; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) halfValues[h] = sign * 2 ** -14 * (mantissa / 1024);
    else if (exponent === 0x1f) halfValues[h] = mantissa ? NaN : sign * Infinity;
    else halfValues[h] = sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
  }
  return halfValues;
}
