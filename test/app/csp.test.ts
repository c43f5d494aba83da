import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, withContentSecurityPolicy } from '../../src-main/app/csp.js';

function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy.split(';').map((directive) => {
      const [name, ...sources] = directive.trim().split(/\s+/);
      return [name as string, sources];
    }),
  );
}

describe('the content security policy', () => {
  const policy = directives(contentSecurityPolicy);

  it('allows no inline or evaluated code and no remote origin', () => {
    expect(contentSecurityPolicy).not.toMatch(/unsafe-inline|unsafe-eval|unsafe-hashes|wasm-unsafe-eval/);
    expect(contentSecurityPolicy).not.toMatch(/https?:|\*|data:|ws:|file:/);
  });

  it('lists the directives the renderer needs, each once', () => {
    expect(Object.fromEntries(policy)).toEqual({
      'default-src': ["'self'"],
      'img-src': ["'self'", 'blob:', 'mien-photo:'],
      'style-src': ["'self'"],
      'script-src': ["'self'"],
      'connect-src': ["'self'"],
      'object-src': ["'none'"],
      'base-uri': ["'none'"],
      'frame-ancestors': ["'none'"],
    });
    expect(contentSecurityPolicy.split(';')).toHaveLength(policy.size);
  });

  it('replaces a policy in any letter case and keeps the other headers', () => {
    const headers = withContentSecurityPolicy({ 'Content-Security-Policy': "script-src 'unsafe-eval'", Server: 'x' });
    expect(headers).toEqual({ 'Content-Security-Policy': [contentSecurityPolicy], Server: ['x'] });
    expect(withContentSecurityPolicy(undefined)).toEqual({ 'Content-Security-Policy': [contentSecurityPolicy] });
  });
});
