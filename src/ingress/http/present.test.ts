import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CascadeRow } from '../../store/cascades.ts';
import type { EventRow, MessageRow, PartRow } from '../../store/messages.ts';
import { presentEvent, presentMessage } from './present.ts';

const T = Date.parse('2026-12-02T10:00:00.000Z');

function message(over: Partial<MessageRow> = {}): MessageRow {
  return {
    id: 'msg_1',
    account_id: 'acc_1',
    batch_id: null,
    channel: 'sms',
    recipient: '+79161234567',
    sender: null,
    body: 'hello',
    encoding: 'gsm7',
    characters: 5,
    parts_count: 1,
    traffic_type: 'service',
    group_tag: null,
    project: null,
    reference: null,
    status: 'accepted',
    reason_code: null,
    provider_code: null,
    reason_detail: null,
    connector_id: null,
    attempts: 0,
    ttl_seconds: 86_400,
    send_at: null,
    expires_at: T + 86_400_000,
    due_at: T,
    lease_until: null,
    created_at: T,
    queued_at: null,
    sent_at: null,
    delivered_at: null,
    completed_at: null,
    updated_at: T,
    operator: null,
    region: null,
    callback_url: null,
    ...over,
  };
}

const event = (id: string, messageId: string, status: string, at: number): EventRow => ({ id, account_id: 'acc_1', message_id: messageId, status, reason_code: null, provider_code: null, created_at: at });

test('a message says in words what the provider reported about its failure; status events keep the code only', () => {
  const row = message({ status: 'rejected', reason_code: 'invalid_destination', provider_code: '0x0000000b', reason_detail: 'submit_sm_resp: invalid destination address' });
  const shown = presentMessage(row);
  assert.deepEqual(shown.reason, {
    code: 'invalid_destination',
    description: shown.reason!.description,
    permanent: true,
    provider_code: '0x0000000b',
    detail: 'submit_sm_resp: invalid destination address',
  });
  assert.equal((presentMessage(message({ status: 'rejected', reason_code: 'invalid_destination' })).reason as { detail?: string | null }).detail, null);
  const e = presentEvent({ eventId: 'evt_1', messageId: 'msg_1', status: 'rejected', reasonCode: 'invalid_destination', providerCode: '0x0000000b', at: T });
  assert.equal('detail' in e.data.reason!, false);
});

test('a template-only messenger message has its one part, with the stored part status', () => {
  const row = message({ channel: 'whatsapp', body: '', characters: 0, parts_count: 1, status: 'sent', connector_id: 'wa', content: JSON.stringify({ template: { name: 'otp', language: 'en', parameters: ['1234'] } }) });
  const part: PartRow = { message_id: 'msg_1', part_index: 1, account_id: 'acc_1', connector_id: 'wa', provider_message_id: 'wamid.1', status: 'sent', reason_code: null, provider_code: null, sent_at: T + 5, done_at: null };
  const shown = presentMessage(row, { parts: [part], events: [] }) as { parts: { index: number; text: string; status: string; provider_message_id: string | null }[] };
  assert.deepEqual(
    shown.parts.map((p) => [p.index, p.text, p.status, p.provider_message_id]),
    [[1, '', 'sent', 'wamid.1']],
  );
  // An SMS is still shown in its segments.
  const sms = presentMessage(message({ body: 'x'.repeat(161), characters: 161, parts_count: 2 }), { parts: [], events: [] }) as { parts: { index: number }[] };
  assert.deepEqual(sms.parts.map((p) => p.index), [1, 2]);
});

test("a cascade's timeline puts a step's change before the parent's change it caused in the same millisecond", () => {
  const parent = message({ id: 'msg_p', status: 'delivered', cascade_step: 0, completed_at: T + 10 });
  const step = message({ id: 'msg_s', parent_id: 'msg_p', cascade_step: 1, channel: 'sms', status: 'delivered', created_at: T });
  const cascade: CascadeRow = { id: 'msg_p', account_id: 'acc_1', steps: JSON.stringify([{ channel: 'sms', until: 'delivered', timeout_seconds: 60 }]), step: 1, child_id: 'msg_s', status: 'done', timer_at: null, decided_step: 1, created_at: T, updated_at: T + 10 };
  // Event ids are random within a millisecond: the parent's may sort before its step's.
  const shown = presentMessage(parent, {
    parts: [],
    events: [event('evt_0000A', 'msg_p', 'delivered', T + 10)],
    cascade: { row: cascade, children: [step], childEvents: [event('evt_0000Z', 'msg_s', 'sent', T + 3), event('evt_0000B', 'msg_s', 'delivered', T + 10)] },
  }) as unknown as { events: { status: string; message_id: string }[] };
  assert.deepEqual(
    shown.events.map((e) => `${e.message_id} ${e.status}`),
    ['msg_p accepted', 'msg_s accepted', 'msg_s sent', 'msg_s delivered', 'msg_p delivered'],
  );
});
