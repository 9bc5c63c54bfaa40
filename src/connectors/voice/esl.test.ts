import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventOf, FrameParser } from './esl.ts';
import { causeMeaning, causeOfResult } from './causes.ts';
import { speakable } from './freeswitch.ts';

test('frames split at any byte, Content-Length before Content-Type, Cyrillic counted in bytes', () => {
  const body = 'Event-Name: BACKGROUND_JOB\nJob-UUID: j1\nJob-Command-Arg: %D0%9A%D0%BE%D0%B4\nContent-Length: 14\n\n-ERR USER_BUSY';
  const wire = Buffer.from(`Content-Type: command/reply\nReply-Text: +OK accepted\n\nContent-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-plain\n\n${body}Content-Type: api/response\nContent-Length: 9\n\nПривет`);
  for (const size of [1, 3, 7, wire.length]) {
    const parser = new FrameParser();
    const frames = [];
    for (let i = 0; i < wire.length; i += size) frames.push(...parser.push(wire.subarray(i, i + size)));
    assert.equal(frames.length, 3, `chunks of ${size}`);
    assert.equal(frames[0]!.headers.get('reply-text'), '+OK accepted');
    const e = eventOf(frames[1]!)!;
    assert.deepEqual([e.name, e.headers['Job-UUID'], e.headers['Job-Command-Arg'], e.body], ['BACKGROUND_JOB', 'j1', 'Код', '-ERR USER_BUSY']);
    assert.equal(frames[2]!.body, 'Привет'.slice(0, 4) + '\uFFFD', 'nine bytes: four letters and half of the fifth');
  }
});

test('a json event frame: headers and _body', () => {
  const e = eventOf({ headers: new Map([['content-type', 'text/event-json']]), body: JSON.stringify({ 'Event-Name': 'CHANNEL_ANSWER', 'Unique-ID': 'u', _body: 'x' }) })!;
  assert.deepEqual([e.name, e.headers['Unique-ID'], e.body, '_body' in e.headers], ['CHANNEL_ANSWER', 'u', 'x', false]);
  assert.equal(eventOf({ headers: new Map([['content-type', 'text/event-json']]), body: 'nope' }), null);
});

test('originate results and causes', () => {
  assert.equal(causeOfResult('+OK 1234\n'), undefined);
  assert.equal(causeOfResult('-ERR USER_BUSY\n'), 'USER_BUSY');
  assert.deepEqual(causeMeaning('GATEWAY_DOWN'), { kind: 'network', reason: 'operator_unavailable' });
  assert.deepEqual(causeMeaning('UNALLOCATED_NUMBER'), { kind: 'subscriber', reason: 'subscriber_unknown' });
  assert.deepEqual(causeMeaning('SOMETHING_NEW'), { kind: 'subscriber', reason: 'unknown' });
});

test('text for speak is one line without the characters the command line gives meaning to', () => {
  assert.equal(speakable("a\r\nb (c) d|e 'f' ${x}"), 'a b c d e ’f’ $ {x}');
});
