/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MailingStats } from './api.ts';
import { newerStats, runProgress } from './mailing-stats.ts';

const stats = (over: Partial<MailingStats>): MailingStats => ({
  object: 'mailing_stats',
  mailing_id: 'mlg_1',
  status: 'running',
  paused_reason: null,
  run_number: 1,
  audience: 10,
  remaining: 10,
  recipients: { accepted: 0, skipped: 0 },
  messages: {},
  errors: 0,
  run_messages: {},
  run_errors: 0,
  ...over,
});

describe('mailing progress (the cabinet)', () => {
  test('the share of the audience gone through, sent, delivered and errors', () => {
    const counts = { queued: 1, sent: 1, delivered: 1, undelivered: 1 };
    const p = runProgress(stats({ remaining: 6, recipients: { accepted: 3, skipped: 1 }, messages: counts, errors: 1, run_messages: counts, run_errors: 1 }));
    assert.deepEqual(p, { through: 4, audience: 10, remaining: 6, percent: 40, sent: 3, delivered: 1, errors: 1, skipped: 1, final: false });
    // A recurring mailing's second run: the first run's messages are the mailing's, not the run's.
    const second = runProgress(stats({ run_number: 2, recipients: { accepted: 1, skipped: 0 }, messages: { delivered: 3, undelivered: 1, accepted: 1 }, errors: 1, run_messages: { accepted: 1 }, run_errors: 0 }));
    assert.deepEqual([second.sent, second.delivered, second.errors], [0, 0, 0]);
    assert.equal(runProgress(stats({ remaining: 0, recipients: { accepted: 10, skipped: 0 }, status: 'finished' })).percent, 100);
    assert.equal(runProgress(stats({ remaining: 1, recipients: { accepted: 9, skipped: 0 } })).percent, 90, 'rounded down: 100 only at the end');
  });

  test('an unknown audience (a segment while it runs, or no run yet) has no percent until the run is finished', () => {
    assert.equal(runProgress(stats({ audience: null, remaining: null, recipients: { accepted: 5, skipped: 0 } })).percent, null);
    assert.equal(runProgress(stats({ audience: null, remaining: null, run_number: 0, status: 'draft' })).percent, null);
    assert.equal(runProgress(stats({ audience: 0, remaining: 0, status: 'finished' })).percent, 100, 'an empty audience is done');
    assert.equal(runProgress(stats({ audience: null, remaining: null, status: 'finished' })).final, true);
  });

  test('an older figure never sets the panel back', () => {
    const mid = stats({ remaining: 5, recipients: { accepted: 5, skipped: 0 } });
    const early = stats({ remaining: 8, recipients: { accepted: 2, skipped: 0 } });
    const done = stats({ status: 'finished', remaining: 0, recipients: { accepted: 10, skipped: 0 } });
    assert.equal(newerStats(undefined, mid), mid);
    assert.equal(newerStats(mid, early), mid, 'fewer recipients: older');
    assert.equal(newerStats(early, mid), mid);
    assert.equal(newerStats(done, stats({ remaining: 0, recipients: { accepted: 10, skipped: 0 } })), done, 'a running figure after the finished one is older');
    const nextRun = stats({ run_number: 2, remaining: 10 });
    assert.equal(newerStats(done, nextRun), nextRun, 'a new run starts again from 0');
    assert.equal(newerStats(nextRun, done), nextRun);
    const moved = stats({ remaining: 5, recipients: { accepted: 5, skipped: 0 }, messages: { delivered: 5 } });
    assert.equal(newerStats(mid, moved), moved, 'the same recipients with statuses moved on: the newer');
  });
});
