import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { LatestRequest } from '../../src-renderer/lib/latest-request.js';
import { ObjectUrlSlot } from '../../src-renderer/lib/object-url.js';

/** A promise the test settles by hand, to play replies out of order. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('LatestRequest', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function setup() {
    const calls: { input: number; reply: ReturnType<typeof deferred<string>> }[] = [];
    const done: string[] = [];
    const failed: unknown[] = [];
    const busy: boolean[] = [];
    const latest = new LatestRequest<number, string>(
      {
        run: (input) => {
          const reply = deferred<string>();
          calls.push({ input, reply });
          return reply.promise;
        },
        done: (result) => done.push(result),
        failed: (error) => failed.push(error),
        busy: (value) => busy.push(value),
      },
      250,
    );
    return { latest, calls, done, failed, busy };
  }

  test('a burst of changes sends one request, 250 ms after the last', async () => {
    const { latest, calls, done } = setup();
    latest.request(1);
    vi.advanceTimersByTime(200);
    latest.request(2);
    vi.advanceTimersByTime(200);
    latest.request(3);
    vi.advanceTimersByTime(249);
    expect(calls).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(calls.map((c) => c.input)).toEqual([3]);
    calls[0]!.reply.resolve('three');
    await vi.runAllTimersAsync();
    expect(done).toEqual(['three']);
  });

  test('a reply overtaken by a newer request is dropped, even when it arrives last', async () => {
    const { latest, calls, done, busy } = setup();
    latest.request(1);
    vi.advanceTimersByTime(250);
    latest.request(2);
    vi.advanceTimersByTime(250);
    expect(calls.map((c) => c.input)).toEqual([1, 2]);

    calls[1]!.reply.resolve('two');
    await vi.runAllTimersAsync();
    calls[0]!.reply.resolve('one');
    await vi.runAllTimersAsync();
    expect(done).toEqual(['two']);
    expect(busy.at(-1)).toBe(false);
  });

  test('a stale failure is dropped too; the newest one is reported', async () => {
    const { latest, calls, failed } = setup();
    latest.request(1);
    vi.advanceTimersByTime(250);
    latest.request(2);
    calls[0]!.reply.reject(new Error('old'));
    await vi.runAllTimersAsync();
    expect(failed).toEqual([]);
    calls[1]!.reply.reject(new Error('new'));
    await vi.runAllTimersAsync();
    expect(failed).toEqual([new Error('new')]);
  });

  test('cancel forgets the pending request and the one in flight', async () => {
    const { latest, calls, done, busy } = setup();
    latest.request(1);
    vi.advanceTimersByTime(250);
    latest.request(2);
    latest.cancel();
    vi.advanceTimersByTime(1000);
    expect(calls).toHaveLength(1);
    calls[0]!.reply.resolve('one');
    await vi.runAllTimersAsync();
    expect(done).toEqual([]);
    expect(busy.at(-1)).toBe(false);
  });
});

describe('ObjectUrlSlot', () => {
  test('replacing the image revokes the previous URL; clear revokes the last', () => {
    const created: Blob[] = [];
    const revoked: string[] = [];
    const slot = new ObjectUrlSlot(
      (blob) => {
        created.push(blob);
        return `blob:${created.length}`;
      },
      (url) => revoked.push(url),
    );
    expect(slot.set(new Uint8Array([1, 2, 3]), 'image/jpeg')).toBe('blob:1');
    expect(created[0]!.type).toBe('image/jpeg');
    expect(created[0]!.size).toBe(3);
    expect(slot.set(new Uint8Array([4]), 'image/png')).toBe('blob:2');
    expect(revoked).toEqual(['blob:1']);
    slot.clear();
    expect(revoked).toEqual(['blob:1', 'blob:2']);
    expect(slot.url).toBeNull();
  });
});
