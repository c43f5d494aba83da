export interface LatestRequestHandlers<T, R> {
  /** the call itself, e.g. photo:preview */
  run: (input: T) => Promise<R>;
  /** the reply of the newest request only */
  done: (result: R, input: T) => void;
  failed: (error: unknown, input: T) => void;
  /** true from the first request until the newest one has answered */
  busy?: (busy: boolean) => void;
}

/**
 * Debounces a stream of requests and keeps only the newest: each request gets
 * a sequence number, and a reply whose number is no longer the latest (the
 * user changed something meanwhile) is dropped instead of overwriting a newer
 * result.
 */
export class LatestRequest<T, R> {
  private sequence = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly handlers: LatestRequestHandlers<T, R>,
    private readonly delayMs = 250,
  ) {}

  /** the sequence number of the newest request */
  get latest(): number {
    return this.sequence;
  }

  request(input: T): void {
    const sequence = ++this.sequence;
    if (this.timer !== null) clearTimeout(this.timer);
    this.handlers.busy?.(true);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.send(sequence, input);
    }, this.delayMs);
  }

  /** Forgets pending and in-flight requests (their replies will be dropped). */
  cancel(): void {
    this.sequence++;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.handlers.busy?.(false);
  }

  private async send(sequence: number, input: T): Promise<void> {
    let result: R;
    try {
      result = await this.handlers.run(input);
    } catch (error) {
      if (sequence !== this.sequence) return;
      this.handlers.busy?.(false);
      this.handlers.failed(error, input);
      return;
    }
    if (sequence !== this.sequence) return;
    this.handlers.busy?.(false);
    this.handlers.done(result, input);
  }
}
