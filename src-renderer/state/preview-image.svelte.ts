import type { PhotoRegion, ReplyOf, RequestOf } from '../../src-main/contract/ipc-contract.js';
import type { MienApi } from '../lib/api.js';
import { LatestRequest } from '../lib/latest-request.js';
import { ObjectUrlSlot } from '../lib/object-url.js';

/** What a zoomed-in stage shows: a box of the photo and the longest side its image needs. */
export interface DetailView {
  region: PhotoRegion;
  maxSide: number;
}

/** An image of the photo or of a box of it, placed by the region it shows. */
export interface RegionImage {
  url: string;
  region: PhotoRegion;
}

type PreviewRequest = RequestOf<'photo:preview'>;

/**
 * One preview image of the photo open in the editor: the whole photo, or, for
 * a zoomed-in stage, the box on screen at full resolution (the original's or
 * the edit's). Requests are debounced and only the newest reply is kept; a
 * reply for a photo no longer open is dropped.
 */
export class PreviewImage {
  image = $state.raw<RegionImage | null>(null);
  busy = $state(false);

  private readonly slot = new ObjectUrlSlot();
  private readonly latest: LatestRequest<PreviewRequest, ReplyOf<'photo:preview'>>;

  constructor(api: MienApi, currentPhoto: () => string | null, failed: (error: unknown) => void, delayMs = 250) {
    this.latest = new LatestRequest(
      {
        run: (request) => api.preview(request),
        done: (reply, request) => {
          if (request.photo !== currentPhoto()) return;
          this.image = { url: this.slot.set(reply.image, reply.mime), region: reply.region };
        },
        failed,
        busy: (busy) => (this.busy = busy),
      },
      delayMs,
    );
  }

  request(request: PreviewRequest): void {
    this.latest.request(request);
  }

  clear(): void {
    this.latest.cancel();
    this.slot.clear();
    this.image = null;
  }
}

export function sameDetailView(a: DetailView | null, b: DetailView | null): boolean {
  if (a === null || b === null) return a === b;
  const [r, s] = [a.region, b.region];
  return (
    a.maxSide === b.maxSide && r.left === s.left && r.top === s.top && r.width === s.width && r.height === s.height
  );
}
