/** A file-name-safe form of a name the user gave: lower-case letters, digits and dashes, at most 40 characters. */
export function slug(name: string, fallback: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return cleaned || fallback;
}
