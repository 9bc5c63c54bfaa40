/**
 * The catalogue of non-delivery reasons (S13). Every failure a message can end
 * with, or be retried for, carries one of these codes plus the raw
 * provider/network code. `permanent: true` means retrying can never help.
 * `docs/statuses.md` documents this table; a test keeps the two in step.
 */
export interface ReasonInfo {
  permanent: boolean;
  description: string;
}

export const REASONS = {
  subscriber_unknown: { permanent: true, description: 'The number does not exist or is not assigned to a subscriber.' },
  subscriber_absent: { permanent: false, description: 'The handset is switched off or out of coverage.' },
  subscriber_blocked: { permanent: true, description: 'The subscriber is barred from receiving messages, or has blocked the sender.' },
  memory_full: { permanent: false, description: 'The handset cannot store more messages.' },
  invalid_destination: { permanent: true, description: 'The operator rejected the destination address.' },
  invalid_sender: { permanent: true, description: 'The sender name is not registered or not allowed for this operator.' },
  content_rejected: { permanent: true, description: 'The operator rejected the content (spam filter, forbidden words, template mismatch).' },
  no_route: { permanent: true, description: 'No connector can take this message (no route for the number, channel or traffic type).' },
  operator_throttled: { permanent: false, description: 'The operator asked us to slow down; the message is retried.' },
  operator_unavailable: { permanent: false, description: 'The operator connection is down or did not answer in time; the message is retried.' },
  operator_error: { permanent: false, description: 'The operator reported a temporary system error; the message is retried.' },
  operator_rejected: { permanent: true, description: 'The operator refused the message for a reason it did not specify further.' },
  validity_expired: { permanent: true, description: 'The validity period ended before the message could be delivered.' },
  no_receipt: { permanent: true, description: 'The message was sent, but no delivery receipt came before its validity period and the grace period after it ended.' },
  security_block: { permanent: true, description: 'The provider blocked the message for security (a recent SIM swap, suspected fraud or SMS pumping); a code must not be sent again to this number now.' },
  cancelled_by_client: { permanent: true, description: 'The client cancelled the message before it was sent.' },
  mailing_cancelled: { permanent: true, description: 'The message\'s mailing was cancelled before the message was sent (`POST /v1/mailings/{id}/cancel`); for a cascade, the step not yet sent and the cascade with it.' },
  cascade_superseded: { permanent: true, description: 'A cascade step\'s message that was not sent yet when its cascade moved on to the next step (the timeout passed) or ended; it was not sent.' },
  insufficient_balance: { permanent: true, description: 'A cascade step\'s message that was not sent: when its step came, the account\'s balance plus its credit limit did not cover what it costs. The cascade ended there (its message fails with this reason); nothing was reserved or charged for that step.' },
  unknown: { permanent: true, description: 'The operator reported a failure without a recognisable reason; the raw code is kept.' },
} as const satisfies Record<string, ReasonInfo>;

export type ReasonCode = keyof typeof REASONS;

export function isReasonCode(value: string): value is ReasonCode {
  return Object.hasOwn(REASONS, value);
}

/** A failure with its catalogue code and, when there is one, the provider's own code. */
export interface FailureReason {
  code: ReasonCode;
  /** the raw provider/network code, e.g. SMPP `command_status` `0x0000000B` or `err:001` */
  providerCode?: string | undefined;
  /** a human explanation from the provider, if any */
  detail?: string | undefined;
}

/**
 * Refusals that another connector may not make (the sender name, the content,
 * an unspecified refusal): a route with more connectors tries the next one at
 * once instead of ending the message. Subscriber errors are not among them.
 */
export const REROUTABLE_REASONS: ReadonlySet<ReasonCode> = new Set<ReasonCode>(['invalid_sender', 'content_rejected', 'operator_rejected']);

/** Temporary failures that say the link itself is failing: they count towards a connector's circuit breaker. */
export const LINK_FAILURE_REASONS: ReadonlySet<ReasonCode> = new Set<ReasonCode>(['operator_unavailable', 'operator_error']);
