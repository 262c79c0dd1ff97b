/**
 * client-go's (UID-tracking) ControllerExpectations: how many creates, and which deletes, a
 * controller issued for a key and has not yet seen come back through its informer. Until they
 * are all observed (or the record is older than the TTL, in case an event was lost), the informer
 * cache is known to be behind and the controller must not act on its counts again.
 */
interface Record_ {
  add: number;
  del: number;
  deleting: Set<string>;
  at: number;
}

export class Expectations {
  private readonly records = new Map<string, Record_>();

  constructor(
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** `n` creates are about to be issued (replaces any record: only set when satisfied). */
  expectCreations(key: string, n: number): void {
    this.records.set(key, { add: n, del: 0, deleting: new Set(), at: this.now() });
  }

  /** These objects (by `ns/name`) are about to be deleted. */
  expectDeletions(key: string, objectKeys: string[]): void {
    this.records.set(key, { add: 0, del: objectKeys.length, deleting: new Set(objectKeys), at: this.now() });
  }

  /** A create was observed, or will never be (it failed or was not attempted). */
  creationObserved(key: string): void {
    const r = this.records.get(key);
    if (r) r.add--;
  }

  /** A delete was observed (or failed); counted once per object whatever the number of events. */
  deletionObserved(key: string, objectKey: string): void {
    const r = this.records.get(key);
    if (r?.deleting.delete(objectKey)) r.del--;
  }

  satisfied(key: string): boolean {
    const r = this.records.get(key);
    if (!r) return true;
    if (r.add <= 0 && r.del <= 0) return true;
    return this.now() - r.at > this.ttlMs;
  }

  pending(key: string): { add: number; del: number } | undefined {
    const r = this.records.get(key);
    return r && { add: r.add, del: r.del };
  }

  delete(key: string): void {
    this.records.delete(key);
  }
}
