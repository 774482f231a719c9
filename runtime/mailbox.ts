/** A mailbox: tasks run one at a time, in the order they were posted. */
export class Mailbox {
  private tail: Promise<unknown> = Promise.resolve();
  private depth = 0;

  /** Queues `task`; resolves or rejects with its result once it ran. */
  post<T>(task: () => Promise<T>): Promise<T> {
    this.depth++;
    const run = this.tail.then(task, task);
    this.tail = run.catch(() => undefined).finally(() => this.depth--);
    return run;
  }

  /** Tasks queued or running. */
  get size(): number {
    return this.depth;
  }
}
