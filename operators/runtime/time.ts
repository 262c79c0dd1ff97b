/** Kubernetes wire formats for time. */

/** Time: RFC 3339 in UTC, whole seconds (`2026-01-01T00:00:00Z`). */
export function rfc3339(t: Date | number = new Date()): string {
  return new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * MicroTime as the API server writes and parses it: RFC 3339 in UTC with exactly six fractional
 * digits (`2026-01-01T00:00:00.000000Z`). JavaScript dates hold milliseconds, so the last three are 0.
 */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
