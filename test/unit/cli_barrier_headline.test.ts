/** The barrier CLI's first line: success reads as success; anything else leads with what is missing and where. */
import assert from 'node:assert/strict';
import { barrierHeadline, HEADLINE_MAX_KEYS } from '../../runtime/cli/barrier_cmd.js';
import { EVICTED_REASON } from '../../transport/api_types.js';

describe('cli barrier headline', () => {
  it('cli barrier - applied keys read as applied, naming them', () => {
    assert.equal(
      barrierHeadline({ call: 'applied', keys: ['measure:g1/cpu'] }, { applied: true, laggards: [] }),
      'applied: measure:g1/cpu present on every member',
    );
    assert.equal(
      barrierHeadline({ call: 'revision', minRevision: 7 }, { applied: true, laggards: [] }),
      'applied: every member at revision ≥ 7',
    );
    assert.equal(
      barrierHeadline({ call: 'deleted', keys: ['measure:g1/old'] }, { applied: true, laggards: [] }),
      'deleted: measure:g1/old absent on every member',
    );
  });

  it('cli barrier - a missing key leads the line with the key, the member and the revision asked', () => {
    const r = { applied: false, laggards: [{ node: 'data-d1', missing_keys: ['measure:g1/cpu'] }] };
    assert.equal(
      barrierHeadline({ call: 'applied', keys: ['measure:g1/cpu', 'group:g1'], minRevisions: [7, 0] }, r),
      'NOT APPLIED: measure:g1/cpu missing on data-d1 (revision ≥ 7)',
    );
  });

  it('cli barrier - several keys and members, a silent member marked, keys capped', () => {
    const keys = ['measure:g/a', 'measure:g/b', 'measure:g/c', 'measure:g/d'];
    const r = {
      applied: false,
      laggards: [
        { node: 'data-d1', missing_keys: keys },
        { node: 'data-d2', missing_keys: ['measure:g/a'], reason: 'no reply before the call ended' },
      ],
    };
    const line = barrierHeadline({ call: 'applied', keys }, r);
    assert.equal(
      line,
      'NOT APPLIED: measure:g/a missing on data-d1, data-d2 (no answer); measure:g/b missing on data-d1; ' +
        'measure:g/c missing on data-d1; and 1 more key',
    );
    assert.equal(line.split('; ').length, HEADLINE_MAX_KEYS + 1);
  });

  it('cli barrier - a revision not reached names each member and where it is', () => {
    const r = {
      applied: false,
      laggards: [
        { node: 'data-d1', current_revision: 5 },
        { node: 'liaison-l2', reason: 'probe failed: Unavailable: no responders' },
        { node: 'data-d9', reason: EVICTED_REASON },
      ],
    };
    assert.equal(
      barrierHeadline({ call: 'revision', minRevision: 7 }, r),
      'NOT APPLIED: revision 7 not reached on data-d1 (at 5), liaison-l2 (no answer)',
    );
  });

  it('cli barrier - keys still present read as NOT DELETED', () => {
    const r = { applied: false, laggards: [{ node: 'data-d2', still_present_keys: ['measure:g1/old'] }] };
    assert.equal(
      barrierHeadline({ call: 'deleted', keys: ['measure:g1/old'] }, r),
      'NOT DELETED: measure:g1/old still present on data-d2',
    );
  });

  it('cli barrier - a member evicted during a converged call does not make it read as a failure', () => {
    const r = { applied: true, laggards: [{ node: 'data-d3', reason: EVICTED_REASON }] };
    assert.equal(
      barrierHeadline({ call: 'applied', keys: ['measure:g1/cpu'] }, r),
      'applied: measure:g1/cpu present on every member',
    );
  });
});
