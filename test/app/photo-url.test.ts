import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPlainAbsolutePath, parsePhotoUrl } from '../../src-main/app/photo-request.js';
import { buildPhotoUrl } from '../../src-main/app/photo-url.js';

describe('mien-photo URLs', () => {
  it('round-trips paths with spaces, dots, #, ? and % through build and parse', () => {
    for (const photo of ['/home/ana/My Photos/a b.jpg', '/p/100% #1?.jpg', '/p/..hidden/x..y.png', '/p/ü ñ 写真.jpg']) {
      expect(parsePhotoUrl(buildPhotoUrl(photo))).toEqual({ path: photo });
    }
    expect(parsePhotoUrl(buildPhotoUrl('/p/a.jpg', 256))).toEqual({ path: '/p/a.jpg', thumbnailSize: 256 });
  });

  it('keeps the whole path in the path parameter', () => {
    const url = buildPhotoUrl('/a/../etc/passwd&size=1 x.jpg', 64);
    expect(url).toBe('mien-photo://photo/?path=%2Fa%2F..%2Fetc%2Fpasswd%26size%3D1%20x.jpg&size=64');
    expect(url).not.toContain(' ');
  });

  it('refuses bad thumbnail sizes when building', () => {
    for (const size of [0, -5, 1.5, Number.NaN, 10_000])
      expect(() => buildPhotoUrl('/p/a.jpg', size)).toThrow(RangeError);
    expect(() => buildPhotoUrl('')).toThrow(TypeError);
  });

  it.each([
    ['another scheme', 'file:///p/a.jpg'],
    ['https', 'https://photo/?path=%2Fp%2Fa.jpg'],
    ['another host', 'mien-photo://evil/?path=%2Fp%2Fa.jpg'],
    ['a host with an encoded slash', 'mien-photo://ph%2Foto/?path=%2Fp%2Fa.jpg'],
    ['a port', 'mien-photo://photo:8080/?path=%2Fp%2Fa.jpg'],
    ['credentials', 'mien-photo://user:pw@photo/?path=%2Fp%2Fa.jpg'],
    ['a hash', 'mien-photo://photo/?path=%2Fp%2Fa.jpg#x'],
    ['a path part', 'mien-photo://photo/p/a.jpg'],
    ['an encoded slash in the path part', 'mien-photo://photo/%2Fp%2Fa.jpg?path=%2Fp%2Fa.jpg'],
    ['dot segments in the path part', 'mien-photo://photo/..%2F..%2Fetc?path=%2Fp%2Fa.jpg'],
    ['no path', 'mien-photo://photo/'],
    ['an empty path', 'mien-photo://photo/?path='],
    ['two paths', 'mien-photo://photo/?path=%2Fp%2Fa.jpg&path=%2Fetc%2Fpasswd'],
    ['a relative path', 'mien-photo://photo/?path=p%2Fa.jpg'],
    ['a .. segment', 'mien-photo://photo/?path=%2Fp%2F..%2F..%2Fetc%2Fpasswd'],
    ['a . segment', 'mien-photo://photo/?path=%2Fp%2F.%2Fa.jpg'],
    ['a backslash .. segment', 'mien-photo://photo/?path=%2Fp%5C..%5Cetc'],
    ['a NUL byte', 'mien-photo://photo/?path=%2Fp%2Fa.jpg%00.png'],
    ['an unknown parameter', 'mien-photo://photo/?path=%2Fp%2Fa.jpg&x=1'],
    ['a size of zero', 'mien-photo://photo/?path=%2Fp%2Fa.jpg&size=0'],
    ['a fractional size', 'mien-photo://photo/?path=%2Fp%2Fa.jpg&size=1.5'],
    ['a signed size', 'mien-photo://photo/?path=%2Fp%2Fa.jpg&size=%2B64'],
    ['a huge size', 'mien-photo://photo/?path=%2Fp%2Fa.jpg&size=99999'],
    ['two sizes', 'mien-photo://photo/?path=%2Fp%2Fa.jpg&size=64&size=128'],
    ['garbage', 'not a url'],
  ])('refuses %s', (_why, url) => {
    expect(parsePhotoUrl(url)).toBeNull();
  });

  it('judges absolute paths by the platform it is given', () => {
    expect(isPlainAbsolutePath('C:\\Users\\ana\\a.jpg', path.win32)).toBe(true);
    expect(isPlainAbsolutePath('C:\\Users\\..\\a.jpg', path.win32)).toBe(false);
    expect(isPlainAbsolutePath('a.jpg', path.win32)).toBe(false);
    expect(isPlainAbsolutePath('C:\\Users\\ana\\a.jpg', path.posix)).toBe(false);
  });
});
