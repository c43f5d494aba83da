import { describe, expect, it, vi } from 'vitest';
import { answerPhotoRequest } from '../../src-main/app/photo-protocol.js';
import { buildPhotoUrl } from '../../src-main/app/photo-url.js';

const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);

describe('the mien-photo protocol handler', () => {
  it('answers from servePhoto with its status, type and bytes', async () => {
    const servePhoto = vi.fn(async () => ({ status: 200, mime: 'image/jpeg', body: jpeg }));
    const response = await answerPhotoRequest({ method: 'GET', url: buildPhotoUrl('/p/a b.jpg', 128) }, servePhoto);
    expect(servePhoto).toHaveBeenCalledWith('/p/a b.jpg', 128);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(jpeg);
  });

  it('passes on the refusal of a photo outside the opened folders', async () => {
    const servePhoto = vi.fn(async () => ({ status: 403, mime: 'text/plain', body: 'forbidden' }));
    const response = await answerPhotoRequest({ method: 'GET', url: buildPhotoUrl('/etc/shadow') }, servePhoto);
    expect(servePhoto).toHaveBeenCalledWith('/etc/shadow', undefined);
    expect(response.status).toBe(403);
    expect(await response.text()).toBe('forbidden');
  });

  it('never calls servePhoto for a URL it does not accept, nor for other methods', async () => {
    const servePhoto = vi.fn(async () => ({ status: 200, mime: 'image/jpeg', body: jpeg }));
    const traversal = 'mien-photo://photo/?path=%2Fp%2F..%2F..%2Fetc%2Fpasswd';
    expect((await answerPhotoRequest({ method: 'GET', url: traversal }, servePhoto)).status).toBe(400);
    expect((await answerPhotoRequest({ method: 'POST', url: buildPhotoUrl('/p/a.jpg') }, servePhoto)).status).toBe(405);
    expect(servePhoto).not.toHaveBeenCalled();
  });

  it('turns a throw into a 500 without the message', async () => {
    const servePhoto = vi.fn(async () => {
      throw new Error('ENOENT /secret/place/a.jpg');
    });
    const response = await answerPhotoRequest({ method: 'GET', url: buildPhotoUrl('/p/a.jpg') }, servePhoto);
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain('secret');
  });
});
