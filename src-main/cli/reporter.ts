import cliProgress from 'cli-progress';

/**
 * Where a command's output goes: the result on stdout (one JSON object with
 * --json, a readable summary otherwise); progress on stderr (a bar on a
 * terminal, JSON lines with --json, a line every few seconds in logs).
 */
export class Reporter {
  private bar: cliProgress.SingleBar | undefined;
  private lastLine = 0;

  constructor(readonly json: boolean) {}

  private get interactive(): boolean {
    return !this.json && process.stderr.isTTY === true;
  }

  progress(label: string, done: number, total: number, fields: Record<string, string | number> = {}): void {
    if (this.json) {
      process.stderr.write(`${JSON.stringify({ progress: label, done, total, ...fields })}\n`);
      return;
    }
    const detail = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join('  ');
    if (this.interactive) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          { format: `${label} [{bar}] {value}/{total} {detail}`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(total, done, { detail });
      }
      this.bar.setTotal(total);
      this.bar.update(done, { detail });
      if (done >= total) this.endProgress();
      return;
    }
    const now = Date.now();
    if (now - this.lastLine > 5000 || done >= total) {
      this.lastLine = now;
      process.stderr.write(`${label} ${done}/${total} ${detail}\n`);
    }
  }

  endProgress(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  /** A note for people; JSON consumers get it on stderr. */
  note(message: string): void {
    this.endProgress();
    process.stderr.write(this.json ? `${JSON.stringify({ note: message })}\n` : `${message}\n`);
  }

  result(value: unknown, text: () => string): void {
    this.endProgress();
    process.stdout.write(this.json ? `${JSON.stringify(value)}\n` : `${text()}\n`);
  }

  error(error: unknown): void {
    this.endProgress();
    const message = error instanceof Error ? error.message : String(error);
    if (this.json) process.stdout.write(`${JSON.stringify({ error: message })}\n`);
    process.stderr.write(`mien: ${message}\n`);
  }
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}
