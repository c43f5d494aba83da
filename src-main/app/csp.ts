/*
 * The renderer's Content Security Policy: its own scripts and styles only, no
 * inline code, no remote origins; images also from blobs (edited previews)
 * and `mien-photo:` (photos on disk).
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "img-src 'self' blob: mien-photo:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export type ResponseHeaders = Record<string, string[] | string>;

/** The headers with our policy in place of any the response brought (whatever their case). */
export function withContentSecurityPolicy(headers: ResponseHeaders | undefined): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === 'content-security-policy') continue;
    result[name] = Array.isArray(value) ? value : [value];
  }
  result['Content-Security-Policy'] = [contentSecurityPolicy];
  return result;
}
