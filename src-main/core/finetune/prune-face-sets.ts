/**
 * Face sets pile up: every collection of faces makes one (crops and labels),
 * and most are reviewed once, then trained on or abandoned. A set that a
 * profile was tuned on stays (its held-out faces are what `compare` measures),
 * and so does one an unfinished fine-tune trains on; the others go once they
 * have been left alone long enough that nobody is still reviewing them.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { unfinishedFinetunes } from './finetune.js';
import { ProfileStore } from './profiles.js';

/** Unused face sets are deleted after this long without a change. */
export const unusedFaceSetLifetimeMs = 14 * 24 * 3600 * 1000;

export interface PruneOptions {
  /** the folder holding one folder per face set */
  facesRoot: string;
  /** the profiles (and their unfinished fine-tunes) that may use them */
  profilesDir: string;
  olderThanMs?: number;
  now?: number;
}

/** Deletes the face sets nothing uses that have not changed for a while; returns the folders deleted. */
export async function pruneFaceSets(options: PruneOptions): Promise<string[]> {
  const { facesRoot, profilesDir, olderThanMs = unusedFaceSetLifetimeMs, now = Date.now() } = options;
  const names = await readdir(facesRoot).catch(() => [] as string[]);
  if (names.length === 0) return [];
  const used = await faceSetsInUse(profilesDir);
  const deleted: string[] = [];
  for (const name of names) {
    const dir = path.resolve(facesRoot, name);
    if (used.has(dir)) continue;
    // The newest file of the set dates it: a relabelled set counts as touched.
    const changed = await lastChange(dir);
    if (changed === undefined || now - changed < olderThanMs) continue;
    await rm(dir, { recursive: true, force: true });
    deleted.push(dir);
  }
  return deleted;
}

async function faceSetsInUse(profilesDir: string): Promise<Set<string>> {
  const profiles = await new ProfileStore(profilesDir).list();
  const unfinished = await unfinishedFinetunes(profilesDir);
  return new Set(
    [...profiles.map((p) => p.faces.faceSet), ...unfinished.map((u) => u.faceSet)].map((d) => path.resolve(d)),
  );
}

async function lastChange(dir: string): Promise<number | undefined> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) return undefined;
  const entries = await readdir(dir).catch(() => [] as string[]);
  const times = await Promise.all(
    entries.map((e) =>
      stat(path.join(dir, e)).then(
        (s) => s.mtimeMs,
        () => 0,
      ),
    ),
  );
  return Math.max(info.mtimeMs, ...times);
}
