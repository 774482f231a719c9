/**
 * When a liaison may forward a one-shard query to the shard's owners, who then answer the client
 * themselves (DESIGN §7 departure, see docs/architecture.md): the answer crosses NATS once instead
 * of twice (a series' raw day is 35 KB). Pure: the caller passes the time.
 *
 * A forwarded query loses what only the liaison can say: one that finds no live owner gets NATS's
 * no-responders status at the client instead of `Unavailable` naming the shard and its owners, and
 * a shard of an older version answers a result the client cannot read. So a shard is forwarded to
 * only while its owners were seen answering a page within `ttlMs`: at least one query per shard and
 * `ttlMs` goes the long way, and its answer (or its `Unavailable`) renews or ends the permission.
 */
export class ForwardGate {
  private readonly answered = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    /** Shards remembered at most (a liaison asks a bounded set; past it, the oldest go). */
    private readonly capacity = 10_000,
  ) {}

  /** True when a query for shard subject `subject` may be forwarded at `nowMs` (monotonic ms). */
  mayForward(subject: string, nowMs: number): boolean {
    const at = this.answered.get(subject);
    return at !== undefined && nowMs - at < this.ttlMs;
  }

  /** The owners of `subject` answered a page, asked the long way, at `nowMs`. */
  answeredPage(subject: string, nowMs: number): void {
    this.answered.delete(subject);
    this.answered.set(subject, nowMs);
    if (this.answered.size > this.capacity) this.answered.delete(this.answered.keys().next().value!);
  }

  /** `subject` had no live owner (or answered no page): the next queries go the long way. */
  unconfirmed(subject: string): void {
    this.answered.delete(subject);
  }
}
