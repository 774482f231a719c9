/**
 * The rewrite drive of a group's layout (DESIGN §9), run by the claimer holding the operation's
 * lease. Every layout write goes through the schema API fenced by that lease, and compare-and-set
 * on the layout's revision, so a claimer that lost its lease writes nothing and a step repeated
 * after a crash finds it done.
 *
 * Copy: register the planned generation as `next` → barrier `applied` on `layout:<group>` (from
 * then on every liaison writes both generations) → note each current shard's last WAL sequence (the
 * copy goes up to it; later rows arrive by dual writes) → count the rows → ask one owner of each
 * current shard to copy it, segment by segment, recording after each segment where the copy stands
 * (a copy taken over after a crash or resumed after a stop goes on from there).
 * Cutover: make `next` current and the old current `retiring` → barrier on the layout key (every
 * liaison now reads the new generation; writes never stopped).
 * Retire: once the operation completed and the grace period passed, drop `retiring` (data nodes
 * then close its shards and remove its files).
 */
import type { Logger } from '../../runtime/log.js';
import { shardRows, walEnds } from '../../runtime/migration/copy_rows.js';
import type { BackfillReply, BackfillRequest, CaughtUpReply, CaughtUpRequest } from '../../transport/backfill_types.js';
import type { Bus } from '../../transport/bus.js';
import type { LockstepClient } from '../../transport/client.js';
import { Code, LockstepError, toLockstepError } from '../../transport/errors.js';
import {
  firstGeneration,
  groupAtGeneration,
  type Layout,
  type LayoutGeneration,
} from '../../transport/layout_types.js';
import type { CopyPosition, OperationRecord } from '../../transport/migration_types.js';
import { call, isTransientCode } from '../../transport/rpc.js';
import type { Group, Measure, StoredResource } from '../../transport/schema_types.js';
import type { Subjects } from '../../transport/subjects.js';
import { placeShards, placementSpecOf } from '../../storage/placement.js';

/** One backfill request's budget: a segment of a large shard takes a while. */
const BACKFILL_CALL_MS = 10 * 60_000;
/** One barrier call's wait; the drive keeps calling until every node applied (or it is aborted). */
const BARRIER_CALL_MS = 10_000;
/** One caught-up call's wait; the drive asks again while an owner lags. */
const CAUGHT_UP_CALL_MS = 2000;
/**
 * At the end of a copy, how long each owner may take to merge the parts the copy left, after its
 * flush. The cutover then meets settled shards; past this it goes on (merging is not needed for
 * correctness) with a warning.
 */
const SETTLE_MS = 30_000;

/** What the drive needs. */
export interface LayoutDriveDeps {
  bus: Bus;
  subjects: Subjects;
  client: LockstepClient;
  log: Logger;
}

/** A group's layout as stored, with its revision (0: no layout record, generation 1 from the group). */
export interface StoredLayout {
  layout: Layout;
  revision: number;
}

/** The layout drive of one claimer. */
export class LayoutDrive {
  constructor(private readonly d: LayoutDriveDeps) {}

  /** The layout in force for `group`. */
  async read(group: string): Promise<StoredLayout> {
    try {
      const r = await this.d.client.get('layout', { group });
      return { layout: r.resource as Layout, revision: r.mod_revision };
    } catch (err) {
      if (toLockstepError(err).code !== Code.NotFound) throw err;
      const g = (await this.d.client.get('group', { group })) as StoredResource<Group>;
      return { layout: { group, current: firstGeneration(g.resource) }, revision: 0 };
    }
  }

  /** Writes `layout` at `expected` (0: create), fenced by `op`'s lease; its new revision. */
  async write(op: OperationRecord, layout: Layout, expected: number, token: string): Promise<number> {
    const reply = await call<{ revision: number }>(
      this.d.bus,
      this.d.subjects.api.schema('layout', 'update'),
      {
        resource: { ...layout, written_by: `${op.migration_id}/${op.index}` },
        expected_revision: expected,
        migration: { id: op.migration_id, index: op.index, token },
      },
      { timeoutMs: BARRIER_CALL_MS },
    );
    return reply.revision;
  }

  /** Returns once every watched node applied `layout:<group>` at `revision` or later. */
  async certify(group: string, revision: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const b = await this.d.client.awaitApplied([`layout:${group}`], {
        minRevisions: [revision],
        timeoutMs: BARRIER_CALL_MS,
      });
      if (b.applied) return;
      this.d.log.warn({ target: group, laggards: b.laggards }, 'layout change waits for the barrier');
    }
  }

  /** The copy phase of a rewrite operation (see the file header). */
  async copy(
    op: OperationRecord,
    progress: (copied: number, total: number, position: CopyPosition) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const plan = op.layout!;
    const token = op.lease!.token;
    const group = op.target;
    let { layout, revision } = await this.read(group);
    if (layout.current.generation === plan.next.generation) return; // cut over already (a repeated drive)
    if (layout.next?.generation !== plan.next.generation) {
      if (revision !== plan.mod_revision) {
        throw new Error(
          `the layout of ${group} changed since the migration planned it (revision ${plan.mod_revision}, now ${revision}); ` +
            'cancel this migration and start it again',
        );
      }
      revision = await this.write(op, { ...layout, next: plan.next }, revision, token);
      layout = { ...layout, next: plan.next };
    }
    await this.certify(group, revision, signal);
    // Every liaison writes both generations now: what the current one holds up to here is copied.
    const cur = layout.current;
    const until = await walEnds(this.d.bus, this.d.subjects, group, cur);
    const failed = (shard: number) => (err: unknown) => {
      const le = toLockstepError(err);
      // A shard with no live owner now may have one soon, a slow one may answer: those retry.
      const failure = new LockstepError(le.code, `copying shard ${group}/${shard}: ${le.message}`, {
        details: le.details,
      });
      throw Object.assign(failure, { retryable: isTransientCode(le.code) });
    };
    const ask = (shard: number, body: BackfillRequest) =>
      call<BackfillReply>(this.d.bus, this.d.subjects.shardBackfill(group, shard, cur.generation), body, {
        timeoutMs: BACKFILL_CALL_MS + 5000,
      }).catch(failed(shard));
    const copyRequest = (shard: number, after_segment: number | null): BackfillRequest => ({
      migration: op.migration_id,
      index: op.index,
      to: { generation: plan.next.generation, shards: plan.next.shards },
      until_seq: until[shard]!,
      after_segment,
      timeout_ms: BACKFILL_CALL_MS,
    });
    const counts = await Promise.all(
      until.map((seq, s) =>
        shardRows(this.d.bus, this.d.subjects, group, cur.generation, s, seq, BACKFILL_CALL_MS).catch(failed(s)),
      ),
    );
    const total = counts.reduce((n, c) => n + c, 0);
    // Taken over or resumed: what the position covers was copied (and counted) before.
    const from = op.copy_position ?? { shard: 0, after_segment: null };
    let copied = op.copy_position ? op.rows_copied : 0;
    await progress(copied, Math.max(total, copied), from);
    for (let s = from.shard; s < cur.shards; s++) {
      let after = s === from.shard ? from.after_segment : null;
      for (;;) {
        signal.throwIfAborted();
        const r = await ask(s, copyRequest(s, after));
        if (r.segment === null) break;
        after = r.segment;
        copied += r.rows;
        await progress(copied, Math.max(total, copied), { shard: s, after_segment: after });
      }
      if (s + 1 < cur.shards) await progress(copied, Math.max(total, copied), { shard: s + 1, after_segment: null });
    }
    // Copied means readable: every owner of the new generation applied what the copy appended,
    // flushed it and merged the parts it left (so the cutover does not compete with those merges).
    await this.awaitCaughtUp(group, plan.next, signal, true);
  }

  /**
   * Returns once every owner of every shard of `gen` applied its WAL up to the last record stored
   * when this was called (what the backfill appended, and the dual writes so far). An owner that
   * lags is asked again, with a warning, until the drive is aborted; one the cluster sees as silent
   * (not an active member) is left out, as the barrier leaves it out: it catches up from its durable
   * consumer when it returns. With `flush`, each owner also flushes and lets its merges finish
   * (up to SETTLE_MS).
   */
  async awaitCaughtUp(group: string, gen: LayoutGeneration, signal: AbortSignal, flush = false): Promise<void> {
    const g = (await this.d.client.get('group', { group })) as StoredResource<Group>;
    const spec = placementSpecOf(groupAtGeneration(g.resource, gen));
    if (!spec)
      throw new Error(`group ${group} has no placement record; its generation ${gen.generation} has no owners`);
    const owners = placeShards(spec);
    await Promise.all(
      owners.map(async (nodes, shard) => {
        const seq = await this.d.bus.lastSequence(
          this.d.subjects.walStream,
          this.d.subjects.wal(group, shard, gen.generation),
        );
        if (seq === 0) return;
        await Promise.all(
          nodes.map((node) => this.askCaughtUp(group, gen.generation, shard, node, seq, signal, flush)),
        );
      }),
    );
  }

  private async askCaughtUp(
    group: string,
    generation: number,
    shard: number,
    node: string,
    seq: number,
    signal: AbortSignal,
    flush: boolean,
  ): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const members = await this.d.client.members();
      if (!members.members.some((m) => m.name === node && m.state === 'active')) {
        this.d.log.warn({ target: group, generation, shard, node }, 'a silent shard owner is left out of the catch-up');
        return;
      }
      let applied: number | string;
      try {
        const settle = flush ? { settle_ms: SETTLE_MS } : {};
        const r = await call<CaughtUpReply>(
          this.d.bus,
          this.d.subjects.shardCaughtUp(group, shard, generation, node),
          { seq, timeout_ms: CAUGHT_UP_CALL_MS, flush, ...settle } satisfies CaughtUpRequest,
          { timeoutMs: CAUGHT_UP_CALL_MS + (settle.settle_ms ?? 0) + 1000 },
        );
        if (r.caught_up && r.settled === false)
          this.d.log.warn(
            { target: group, generation, shard, node, settle_ms: SETTLE_MS },
            'the copy is complete while its parts are still merging',
          );
        if (r.caught_up) return;
        applied = r.applied;
      } catch (err) {
        const le = toLockstepError(err);
        if (!isTransientCode(le.code)) throw err;
        applied = `${le.code}: ${le.message}`;
        // No owner listening yet (opening the shard, restarting): not a reason to spin.
        await new Promise((r) => setTimeout(r, 500));
      }
      this.d.log.warn(
        { target: group, generation, shard, node, needed: seq, applied },
        'layout change waits for a shard owner to apply the copy',
      );
    }
  }

  /** The layout step of a rewrite's cutover: `next` becomes current; returns the revision certified. */
  async cutover(
    op: OperationRecord,
    signal: AbortSignal,
    record: (applied: Record<string, number>) => Promise<void>,
  ): Promise<void> {
    const plan = op.layout!;
    const group = op.target;
    const key = `layout:${group}`;
    const { layout, revision } = await this.read(group);
    let certified = revision;
    if (layout.current.generation !== plan.next.generation) {
      if (layout.next?.generation !== plan.next.generation) {
        throw new Error(`the layout of ${group} holds no generation ${plan.next.generation} to cut over to`);
      }
      // Reads switch now: no owner of the new generation may be behind on what it was sent.
      await this.awaitCaughtUp(group, layout.next, signal);
      certified = await this.write(
        op,
        { group, current: layout.next, retiring: await this.keepShapes(op, layout.current) },
        revision,
        op.lease!.token,
      );
      await record({ [key]: certified });
    }
    await this.certify(group, certified, signal);
  }

  /**
   * The generation being retired, holding the measures the rewrite reshapes as they are now (the
   * registry gets the new shapes next; the retiring rows keep the old ones). Refuses when such a
   * measure changed since the migration planned it: nothing is switched then.
   */
  private async keepShapes(op: OperationRecord, gen: LayoutGeneration): Promise<LayoutGeneration> {
    const reshaped = Object.keys(op.layout!.next.measures ?? {});
    if (reshaped.length === 0) return gen;
    const measures: Record<string, Measure> = { ...gen.measures };
    for (const name of reshaped) {
      const cur = (await this.d.client.get('measure', { group: op.target, name })) as StoredResource<Measure>;
      const planned = op.resources.find((r) => r.kind === 'measure' && r.resource.name === name);
      if (planned && cur.mod_revision !== planned.mod_revision) {
        throw new Error(
          `${op.target}/${name} changed since the migration planned it (revision ${planned.mod_revision}, now ` +
            `${cur.mod_revision}); cancel this migration and start it again`,
        );
      }
      const { created_at: _c, updated_at: _u, ...shape } = cur.resource;
      measures[name] = shape as Measure;
    }
    return { ...gen, measures };
  }

  /**
   * The last step of a cutover that reshaped measures, once the registry holds their new shapes:
   * the current generation stops holding its own copies (a later change of the measure applies to
   * it), certified by the barrier.
   */
  async settle(
    op: OperationRecord,
    signal: AbortSignal,
    record: (applied: Record<string, number>) => Promise<void>,
  ): Promise<void> {
    const { layout, revision } = await this.read(op.target);
    const own = layout.current.measures;
    if (layout.current.generation !== op.layout!.next.generation || !own) return;
    const measures = Object.fromEntries(Object.entries(own).filter(([n]) => !op.layout!.next.measures?.[n]));
    const { measures: _m, ...rest } = layout.current;
    const current = Object.keys(measures).length > 0 ? { ...rest, measures } : rest;
    const certified = await this.write(op, { ...layout, current }, revision, op.lease!.token);
    await record({ [`layout:${op.target}`]: certified });
    await this.certify(op.target, certified, signal);
  }

  /**
   * After a cancel or failure before the cutover: drops `next` (nothing was read from it); the
   * current layout stays. Written without a lease: the schema API lets an ended operation only
   * remove what it added.
   */
  async dropNext(op: OperationRecord): Promise<void> {
    const { layout, revision } = await this.read(op.target);
    if (!op.layout || layout.next?.generation !== op.layout.next.generation) return;
    const { next: _next, ...rest } = layout;
    await this.write(op, rest, revision, '');
  }

  /** After a completion and its grace period: drops `retiring` (written without a lease, as above). */
  async retire(op: OperationRecord): Promise<void> {
    const { layout, revision } = await this.read(op.target);
    if (!layout.retiring) return;
    const { retiring: _r, ...rest } = layout;
    await this.write(op, rest, revision, '');
  }
}
