/**
 * The node's membership heartbeat: published every interval, at once when someone asks on
 * `members.discover`, and with `state: leaving` on a graceful stop.
 */
import type { Bus, Subscription } from '../transport/bus.js';
import { encode } from '../transport/codec.js';
import type { Subjects } from '../transport/subjects.js';
import type { Clock, TimerHandle } from './clock.js';
import type { Heartbeat } from './membership.js';

/** Publishes one node's heartbeats. */
export class HeartbeatPublisher {
  private timer?: TimerHandle;
  private discover?: Subscription;

  constructor(
    private readonly bus: Bus,
    private readonly subjects: Subjects,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly beat: () => Heartbeat,
  ) {}

  /** Starts beating (the first beat goes out at once). */
  start(): void {
    this.discover = this.bus.subscribe(this.subjects.members.discover, () => this.send());
    const tick = () => {
      this.send();
      this.timer = this.clock.setTimer(this.intervalMs, tick);
    };
    tick();
  }

  private send(state: Heartbeat['state'] = 'active'): void {
    try {
      this.bus.publish(this.subjects.members.heartbeat, encode({ ...this.beat(), state }));
    } catch {
      // Disconnected: the next beat will go out after the reconnect.
    }
  }

  /**
   * Stops beating without a word: after a failure the node must look like a crashed one (evicted
   * and reported by barriers), never like a graceful leave that barriers drop silently.
   */
  stop(): void {
    this.timer?.cancel();
    this.discover?.unsubscribe();
  }

  /** Stops beating and announces a graceful leave. */
  async leave(): Promise<void> {
    this.timer?.cancel();
    this.discover?.unsubscribe();
    this.send('leaving');
    await this.bus.flush().catch(() => undefined);
  }
}
