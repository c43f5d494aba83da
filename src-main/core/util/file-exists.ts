import { stat } from 'node:fs/promises';

/** Whether anything exists at the path (a missing or unreachable path counts as absent). */
export async function fileExists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}
