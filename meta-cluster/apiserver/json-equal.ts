/**
 * Equality of JSON-shaped values as their serialisations compare once keys are sorted: key order
 * does not matter and members whose value is `undefined` count as absent (JSON.stringify drops
 * them). Used where every update used to sort and serialise both objects twice.
 */
export function jsonEqual(a: unknown, b: unknown, skip?: ReadonlySet<string>): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let members = 0;
  for (const k of Object.keys(x)) {
    if (x[k] === undefined || skip?.has(k)) continue;
    if (!jsonEqual(x[k], y[k])) return false;
    members++;
  }
  for (const k of Object.keys(y)) if (y[k] !== undefined && !skip?.has(k)) members--;
  return members === 0;
}
