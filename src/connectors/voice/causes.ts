import type { ReasonCode } from '../../domain/reasons.ts';

/**
 * FreeSWITCH hang-up causes (names from switch_types.h; matched by name, not
 * number) and what each means to us:
 * - `subscriber`: the call reached the callee's side and was not taken
 *   (busy, no answer, declined, no such number): the message is undelivered
 *   with the reason;
 * - `network`: the call did not get through the network (congestion, a
 *   gateway down, our configuration): a retry later can help, so a send that
 *   learns it before the call is placed is retried by the pipeline.
 */
export interface CauseMeaning {
  kind: 'subscriber' | 'network';
  reason: ReasonCode;
}

const SUBSCRIBER_TEMPORARY = ['USER_BUSY', 'NO_USER_RESPONSE', 'NO_ANSWER', 'SUBSCRIBER_ABSENT', 'NORMAL_UNSPECIFIED', 'NORMAL_CLEARING', 'DESTINATION_OUT_OF_ORDER', 'PROGRESS_TIMEOUT', 'RECOVERY_ON_TIMER_EXPIRE', 'ALLOTTED_TIMEOUT', 'ORIGINATOR_CANCEL'];
const SUBSCRIBER_UNKNOWN = ['UNALLOCATED_NUMBER', 'NO_ROUTE_DESTINATION', 'NUMBER_CHANGED'];
const NETWORK_ERROR = ['NORMAL_TEMPORARY_FAILURE', 'NORMAL_CIRCUIT_CONGESTION', 'SWITCH_CONGESTION', 'REQUESTED_CHAN_UNAVAIL', 'MEDIA_TIMEOUT'];
const NETWORK_DOWN = ['NETWORK_OUT_OF_ORDER', 'GATEWAY_DOWN', 'INVALID_GATEWAY', 'INVALID_PROFILE', 'USER_NOT_REGISTERED', 'CHAN_NOT_IMPLEMENTED', 'FACILITY_NOT_IMPLEMENTED', 'SERVICE_UNAVAILABLE'];

export const CAUSES: ReadonlyMap<string, CauseMeaning> = new Map<string, CauseMeaning>([
  ...SUBSCRIBER_TEMPORARY.map((c): [string, CauseMeaning] => [c, { kind: 'subscriber', reason: 'subscriber_absent' }]),
  ...SUBSCRIBER_UNKNOWN.map((c): [string, CauseMeaning] => [c, { kind: 'subscriber', reason: 'subscriber_unknown' }]),
  ['CALL_REJECTED', { kind: 'subscriber', reason: 'subscriber_blocked' }],
  ['INVALID_NUMBER_FORMAT', { kind: 'subscriber', reason: 'invalid_destination' }],
  ['OUTGOING_CALL_BARRED', { kind: 'subscriber', reason: 'operator_rejected' }],
  ['BEARERCAPABILITY_NOTAUTH', { kind: 'subscriber', reason: 'operator_rejected' }],
  ...NETWORK_ERROR.map((c): [string, CauseMeaning] => [c, { kind: 'network', reason: 'operator_error' }]),
  ...NETWORK_DOWN.map((c): [string, CauseMeaning] => [c, { kind: 'network', reason: 'operator_unavailable' }]),
]);

/** A cause we do not list is a subscriber outcome with the reason `unknown` (the raw cause is kept). */
export function causeMeaning(cause: string): CauseMeaning {
  return CAUSES.get(cause) ?? { kind: 'subscriber', reason: 'unknown' };
}

/** The cause in an originate result (`-ERR USER_BUSY`), or undefined for `+OK <uuid>`. */
export function causeOfResult(body: string): string | undefined {
  const m = /^-ERR\s+([A-Z_]+)?/.exec(body.trim());
  if (!m) return undefined;
  return m[1] ?? 'NORMAL_UNSPECIFIED';
}
