/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Message, Page, Reason } from './api.ts';
import { LatestStatuses, movesForward } from './live-status.ts';

const reason: Reason = { code: 'subscriber_unknown', description: 'unknown', permanent: true, provider_code: '001' };
const row = (id: string, status: Message['status']) => ({ id, status, reason: null as Reason | null, text: `text ${id}` });

describe('live statuses (the cabinet)', () => {
  test('statuses only move forward; a final one changes only delivered → read', () => {
    assert.equal(movesForward('queued', 'sent'), true);
    assert.equal(movesForward('sent', 'delivered'), true);
    assert.equal(movesForward('accepted', 'cancelled'), true);
    assert.equal(movesForward('delivered', 'read'), true);
    assert.equal(movesForward('sent', 'read'), true);
    assert.equal(movesForward('delivered', 'sent'), false);
    assert.equal(movesForward('sent', 'queued'), false);
    assert.equal(movesForward('sent', 'sent'), false);
    assert.equal(movesForward('delivered', 'undelivered'), false);
    assert.equal(movesForward('undelivered', 'read'), false);
    assert.equal(movesForward('read', 'delivered'), false);
  });

  test('a list fetched while the events came gets the latest status when it arrives', () => {
    const latest = new LatestStatuses();
    assert.equal(latest.record('msg_1', { status: 'sent', reason: null }), true);
    assert.equal(latest.record('msg_1', { status: 'delivered', reason: null }), true);
    // The server answered from before the receipt.
    const page: Page<ReturnType<typeof row>> = { data: [row('msg_1', 'sent'), row('msg_2', 'queued')], next_cursor: null };
    const patched = latest.patchPage(page);
    assert.deepEqual(patched.data.map((m) => m.status), ['delivered', 'queued']);
    assert.equal(patched.data[0]!.text, 'text msg_1', 'the rest of the row is kept');
    assert.equal(patched.data[1], page.data[1], 'rows without news are the same objects');
  });

  test('an older event that comes late sets nothing back, in memory or on a row', () => {
    const latest = new LatestStatuses();
    latest.record('msg_1', { status: 'undelivered', reason });
    assert.equal(latest.record('msg_1', { status: 'sent', reason: null }), false);
    assert.deepEqual(latest.get('msg_1'), { status: 'undelivered', reason });
    const shown = row('msg_1', 'undelivered');
    assert.equal(latest.patch(shown), shown);
    // A row the server already has further along than the events keeps its own status.
    latest.record('msg_3', { status: 'sent', reason: null });
    const ahead = row('msg_3', 'delivered');
    assert.equal(latest.patch(ahead), ahead);
    assert.equal(latest.patchPage({ data: [ahead], next_cursor: null }).data[0], ahead);
  });

  test('the reason comes with the status', () => {
    const latest = new LatestStatuses();
    latest.record('msg_1', { status: 'undelivered', reason });
    assert.deepEqual(latest.patch(row('msg_1', 'sent')).reason, reason);
  });

  test('the sent and delivery times come from the events, and stay when read follows', () => {
    const latest = new LatestStatuses();
    latest.record('msg_1', { status: 'sent', reason: null, at: '2026-12-03T10:00:00.000Z' });
    latest.record('msg_1', { status: 'delivered', reason: null, at: '2026-12-03T10:00:01.000Z' });
    latest.record('msg_1', { status: 'read', reason: null, at: '2026-12-03T10:00:05.000Z' });
    const patched = latest.patch({ ...row('msg_1', 'queued'), sent_at: null, delivered_at: null });
    assert.equal(patched.status, 'read');
    assert.equal(patched.sent_at, '2026-12-03T10:00:00.000Z');
    assert.equal(patched.delivered_at, '2026-12-03T10:00:01.000Z');
    // A time the server gave is kept.
    assert.equal(latest.patch({ ...row('msg_1', 'sent'), sent_at: '2026-12-03T09:59:59.000Z' }).sent_at, '2026-12-03T09:59:59.000Z');
  });

  test('past its capacity the oldest message is forgotten, the newest kept', () => {
    const latest = new LatestStatuses(2);
    latest.record('a', { status: 'sent', reason: null });
    latest.record('b', { status: 'sent', reason: null });
    latest.record('a', { status: 'delivered', reason: null });
    latest.record('c', { status: 'sent', reason: null });
    assert.equal(latest.get('b'), undefined, 'b was the least recently changed');
    assert.equal(latest.get('a')?.status, 'delivered');
    assert.equal(latest.get('c')?.status, 'sent');
  });
});
