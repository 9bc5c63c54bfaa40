/**
 * The canonical message status model (S11, S13).
 *
 * `accepted → queued → sent → delivered → read`, or one of the final failures.
 * Transitions are checked where they start: a state change names the states it
 * may leave, so a duplicate or late event never moves a message backwards.
 */
export const MESSAGE_STATUSES = [
  'accepted',
  'queued',
  'sent',
  'delivered',
  'read',
  'undelivered',
  'failed',
  'expired',
  'rejected',
  'cancelled',
] as const;

export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export interface StatusInfo {
  /** true when the message will not change status any more (except delivered → read) */
  final: boolean;
  description: string;
}

export const STATUS_INFO: Readonly<Record<MessageStatus, StatusInfo>> = {
  accepted: { final: false, description: 'Stored durably and acknowledged; waiting for dispatch (or for its `send_at`).' },
  queued: { final: false, description: 'Taken by the dispatcher: being routed and sent, or waiting for a retry after a temporary failure.' },
  sent: { final: false, description: 'Handed to the operator or provider, which returned its message id; waiting for the delivery receipt.' },
  delivered: { final: true, description: 'The operator confirmed delivery to the handset (for multipart messages: every part).' },
  read: { final: true, description: 'The recipient opened the message (messenger channels that report it).' },
  undelivered: { final: true, description: 'The operator reported that the message could not be delivered; see the reason.' },
  failed: { final: true, description: 'Depesha could not hand the message to any operator; see the reason.' },
  expired: { final: true, description: 'The validity period (`ttl_seconds`) ended before delivery.' },
  rejected: { final: true, description: 'The operator or provider refused the message at submission; see the reason.' },
  cancelled: { final: true, description: 'Cancelled by the client before it was sent.' },
};

/** Statuses a message may still leave towards a final one. */
export const OPEN_STATUSES: readonly MessageStatus[] = MESSAGE_STATUSES.filter((s) => !STATUS_INFO[s].final);
