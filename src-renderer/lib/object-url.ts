/**
 * Holds one object URL for binary image bytes (a preview JPEG) and revokes the
 * previous one whenever it is replaced, so long editing sessions do not leak blobs.
 */
export class ObjectUrlSlot {
  private current: string | null = null;

  constructor(
    private readonly create: (blob: Blob) => string = (blob) => URL.createObjectURL(blob),
    private readonly revoke: (url: string) => void = (url) => URL.revokeObjectURL(url),
  ) {}

  get url(): string | null {
    return this.current;
  }

  set(bytes: Uint8Array, mime: string): string {
    // Copy into a plain ArrayBuffer-backed view: a Blob cannot take a view of a shared buffer.
    const url = this.create(new Blob([new Uint8Array(bytes)], { type: mime }));
    this.clear();
    this.current = url;
    return url;
  }

  clear(): void {
    if (this.current !== null) this.revoke(this.current);
    this.current = null;
  }
}
