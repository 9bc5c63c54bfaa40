/**
 * SMPP 3.4 PDUs as plain objects, and their wire encoding.
 *
 * Every PDU of the spec is one member of the `Pdu` union, told apart by its
 * `command` (the spec's name, e.g. 'submit_sm_resp'); fields use camelCase
 * names of the spec's fields, so a connector can spread the output of
 * concat.ts or receipt.ts straight into a PDU. sm_length, number_of_dests and
 * no_unsuccess are not fields: they follow from the Buffer or array.
 *
 * Decoding is strict about framing and lenient about content, because peers
 * are real SMSCs and clients: field lengths are not held to the spec's
 * maxima (the PDU size cap in framing.ts bounds memory), TLVs are read on
 * every PDU (SMPP 5.0 peers put them on responses), and a response may end
 * early (a refused submit_sm_resp has no message_id, some SMSCs drop the last
 * NUL): the missing fields take their defaults. A request whose body does not
 * parse is an error the session answers with generic_nack.
 *
 * One file for the whole codec on purpose: the field table, the types and the
 * status catalogue are read together whenever a PDU is in question.
 */

/** command_status values of SMPP 3.4 §5.1.3: [name, value, description]. */
const STATUS_TABLE = [
  ['ESME_ROK', 0x00, 'ok'],
  ['ESME_RINVMSGLEN', 0x01, 'message length is invalid'],
  ['ESME_RINVCMDLEN', 0x02, 'command length is invalid'],
  ['ESME_RINVCMDID', 0x03, 'invalid command id'],
  ['ESME_RINVBNDSTS', 0x04, 'incorrect bind status for the command'],
  ['ESME_RALYBND', 0x05, 'already bound'],
  ['ESME_RINVPRTFLG', 0x06, 'invalid priority flag'],
  ['ESME_RINVREGDLVFLG', 0x07, 'invalid registered delivery flag'],
  ['ESME_RSYSERR', 0x08, 'system error'],
  ['ESME_RINVSRCADR', 0x0a, 'invalid source address'],
  ['ESME_RINVDSTADR', 0x0b, 'invalid destination address'],
  ['ESME_RINVMSGID', 0x0c, 'invalid message id'],
  ['ESME_RBINDFAIL', 0x0d, 'bind failed'],
  ['ESME_RINVPASWD', 0x0e, 'invalid password'],
  ['ESME_RINVSYSID', 0x0f, 'invalid system id'],
  ['ESME_RCANCELFAIL', 0x11, 'cancel_sm failed'],
  ['ESME_RREPLACEFAIL', 0x13, 'replace_sm failed'],
  ['ESME_RMSGQFUL', 0x14, 'message queue full'],
  ['ESME_RINVSERTYP', 0x15, 'invalid service type'],
  ['ESME_RINVNUMDESTS', 0x33, 'invalid number of destinations'],
  ['ESME_RINVDLNAME', 0x34, 'invalid distribution list name'],
  ['ESME_RINVDESTFLAG', 0x40, 'invalid destination flag'],
  ['ESME_RINVSUBREP', 0x42, 'invalid submit with replace request'],
  ['ESME_RINVESMCLASS', 0x43, 'invalid esm_class'],
  ['ESME_RCNTSUBDL', 0x44, 'cannot submit to distribution list'],
  ['ESME_RSUBMITFAIL', 0x45, 'submit failed'],
  ['ESME_RINVSRCTON', 0x48, 'invalid source address TON'],
  ['ESME_RINVSRCNPI', 0x49, 'invalid source address NPI'],
  ['ESME_RINVDSTTON', 0x50, 'invalid destination address TON'],
  ['ESME_RINVDSTNPI', 0x51, 'invalid destination address NPI'],
  ['ESME_RINVSYSTYP', 0x53, 'invalid system type'],
  ['ESME_RINVREPFLAG', 0x54, 'invalid replace_if_present flag'],
  ['ESME_RINVNUMMSGS', 0x55, 'invalid number of messages'],
  ['ESME_RTHROTTLED', 0x58, 'throttling error'],
  ['ESME_RINVSCHED', 0x61, 'invalid scheduled delivery time'],
  ['ESME_RINVEXPIRY', 0x62, 'invalid validity period'],
  ['ESME_RINVDFTMSGID', 0x63, 'predefined message invalid or not found'],
  ['ESME_RX_T_APPN', 0x64, 'temporary application error'],
  ['ESME_RX_P_APPN', 0x65, 'permanent application error'],
  ['ESME_RX_R_APPN', 0x66, 'application error, reject message'],
  ['ESME_RQUERYFAIL', 0x67, 'query_sm failed'],
  ['ESME_RINVOPTPARSTREAM', 0xc0, 'error in the optional part of the PDU body'],
  ['ESME_ROPTPARNOTALLWD', 0xc1, 'optional parameter not allowed'],
  ['ESME_RINVPARLEN', 0xc2, 'invalid parameter length'],
  ['ESME_RMISSINGOPTPARAM', 0xc3, 'expected optional parameter missing'],
  ['ESME_RINVOPTPARAMVAL', 0xc4, 'invalid optional parameter value'],
  ['ESME_RDELIVERYFAILURE', 0xfe, 'delivery failure'],
  ['ESME_RUNKNOWNERR', 0xff, 'unknown error'],
] as const;

type StatusName = (typeof STATUS_TABLE)[number][0];

/** command_status values by their spec names, e.g. `CommandStatus.ESME_RINVPASWD` (0x0E). */
export const CommandStatus = Object.freeze(Object.fromEntries(STATUS_TABLE.map(([name, value]) => [name, value]))) as {
  readonly [N in StatusName]: Extract<(typeof STATUS_TABLE)[number], readonly [N, number, string]>[1];
};

const STATUS_BY_VALUE = new Map<number, readonly [string, number, string]>(STATUS_TABLE.map((row) => [row[1], row]));

/** The spec name of a command_status, or its hex value for vendor codes: 'ESME_RINVPASWD', '0x00000401'. */
export function statusName(status: number): string {
  return STATUS_BY_VALUE.get(status)?.[0] ?? `0x${status.toString(16).padStart(8, '0')}`;
}

/** A line for people: 'invalid password (ESME_RINVPASWD, 0x0000000e)'. */
export function describeStatus(status: number): string {
  const hex = `0x${status.toString(16).padStart(8, '0')}`;
  const row = STATUS_BY_VALUE.get(status);
  return row ? `${row[2]} (${row[0]}, ${hex})` : `status ${hex}`;
}

/** Statuses after which the same PDU may succeed later (SYSERR, MSGQFUL, THROTTLED, X_T_APPN): retry after a back-off. */
export function isTemporaryStatus(status: number): boolean {
  return status === 0x08 || status === 0x14 || status === 0x58 || status === 0x64;
}

/** TLV tags of SMPP 3.4 §5.3.2. */
export const TlvTag = Object.freeze({
  dest_addr_subunit: 0x0005,
  dest_network_type: 0x0006,
  dest_bearer_type: 0x0007,
  dest_telematics_id: 0x0008,
  source_addr_subunit: 0x000d,
  source_network_type: 0x000e,
  source_bearer_type: 0x000f,
  source_telematics_id: 0x0010,
  qos_time_to_live: 0x0017,
  payload_type: 0x0019,
  additional_status_info_text: 0x001d,
  receipted_message_id: 0x001e,
  ms_msg_wait_facilities: 0x0030,
  privacy_indicator: 0x0201,
  source_subaddress: 0x0202,
  dest_subaddress: 0x0203,
  user_message_reference: 0x0204,
  user_response_code: 0x0205,
  source_port: 0x020a,
  destination_port: 0x020b,
  sar_msg_ref_num: 0x020c,
  language_indicator: 0x020d,
  sar_total_segments: 0x020e,
  sar_segment_seqnum: 0x020f,
  sc_interface_version: 0x0210,
  callback_num_pres_ind: 0x0302,
  callback_num_atag: 0x0303,
  number_of_messages: 0x0304,
  callback_num: 0x0381,
  dpf_result: 0x0420,
  set_dpf: 0x0421,
  ms_availability_status: 0x0422,
  network_error_code: 0x0423,
  message_payload: 0x0424,
  delivery_failure_reason: 0x0425,
  more_messages_to_send: 0x0426,
  message_state: 0x0427,
  ussd_service_op: 0x0501,
  display_time: 0x1201,
  sms_signal: 0x1203,
  ms_validity: 0x1204,
  alert_on_message_delivery: 0x130c,
  its_reply_type: 0x1380,
  its_session_info: 0x1383,
});

/** A TLV as it travels: any tag, its value octets. */
export interface RawTlv {
  tag: number;
  value: Buffer;
}

/**
 * The TLVs of a PDU: the ones Depesha reads or writes by name, and every
 * other one in `other`, re-encoded as received. A named TLV whose length the
 * spec does not allow is kept in `other` too, so nothing a peer sent is lost.
 */
export interface Tlvs {
  /** 0x001E; the NUL is optional on input, many SMSCs omit it */
  receiptedMessageId?: string;
  /** 0x0427: 1 ENROUTE … 8 REJECTED */
  messageState?: number;
  /** 0x0423, 3 octets: network type (1 ANSI-136, 2 IS-95, 3 GSM) and a 16-bit error code */
  networkErrorCode?: Buffer;
  sarMsgRefNum?: number;
  sarTotalSegments?: number;
  sarSegmentSeqnum?: number;
  /** 0x0424, up to 65,535 octets; replaces short_message */
  messagePayload?: Buffer;
  userMessageReference?: number;
  sourcePort?: number;
  destinationPort?: number;
  /** 0x0210 on bind responses: 0x34 for SMPP 3.4 */
  scInterfaceVersion?: number;
  moreMessagesToSend?: number;
  other?: RawTlv[];
}

type NamedTlv = Exclude<keyof Tlvs, 'other'>;
type TlvKind = 'u8' | 'u16' | 'cstr' | 'octets' | 'octets3';

const NAMED_TLVS: readonly (readonly [NamedTlv, number, TlvKind])[] = [
  ['receiptedMessageId', TlvTag.receipted_message_id, 'cstr'],
  ['messageState', TlvTag.message_state, 'u8'],
  ['networkErrorCode', TlvTag.network_error_code, 'octets3'],
  ['sarMsgRefNum', TlvTag.sar_msg_ref_num, 'u16'],
  ['sarTotalSegments', TlvTag.sar_total_segments, 'u8'],
  ['sarSegmentSeqnum', TlvTag.sar_segment_seqnum, 'u8'],
  ['messagePayload', TlvTag.message_payload, 'octets'],
  ['userMessageReference', TlvTag.user_message_reference, 'u16'],
  ['sourcePort', TlvTag.source_port, 'u16'],
  ['destinationPort', TlvTag.destination_port, 'u16'],
  ['scInterfaceVersion', TlvTag.sc_interface_version, 'u8'],
  ['moreMessagesToSend', TlvTag.more_messages_to_send, 'u8'],
];
const NAMED_BY_TAG = new Map(NAMED_TLVS.map((entry) => [entry[1], entry]));

// ── PDU types ────────────────────────────────────────────────────────────────

interface SourceAddress {
  sourceAddrTon: number;
  sourceAddrNpi: number;
  sourceAddr: string;
}
interface DestAddress {
  destAddrTon: number;
  destAddrNpi: number;
  destinationAddr: string;
}
interface BindBody {
  systemId: string;
  password: string;
  systemType: string;
  /** default 0x34 */
  interfaceVersion: number;
  addrTon: number;
  addrNpi: number;
  addressRange: string;
}
interface SystemIdBody {
  systemId: string;
}
interface MessageIdBody {
  messageId: string;
}
interface MessageFields {
  esmClass: number;
  protocolId: number;
  priorityFlag: number;
  scheduleDeliveryTime: string;
  validityPeriod: string;
  registeredDelivery: number;
  replaceIfPresentFlag: number;
  dataCoding: number;
  smDefaultMsgId: number;
  /** up to 255 octets; longer texts go in `tlvs.messagePayload` */
  shortMessage: Buffer;
}
interface SmBody extends MessageFields, SourceAddress, DestAddress {
  serviceType: string;
}
/** One destination of submit_multi: an SME address or a distribution list name. */
export type MultiDestination = DestAddress | { dlName: string };
interface SubmitMultiBody extends MessageFields, SourceAddress {
  serviceType: string;
  destAddresses: MultiDestination[];
}
/** A destination submit_multi_resp reports as refused. */
export interface UnsuccessSme extends DestAddress {
  errorStatusCode: number;
}
interface SubmitMultiRespBody extends MessageIdBody {
  unsuccessSmes: UnsuccessSme[];
}
interface DataSmBody extends SourceAddress, DestAddress {
  serviceType: string;
  esmClass: number;
  registeredDelivery: number;
  dataCoding: number;
}
interface QuerySmBody extends MessageIdBody, SourceAddress {}
interface QuerySmRespBody extends MessageIdBody {
  finalDate: string;
  messageState: number;
  errorCode: number;
}
interface CancelSmBody extends MessageIdBody, SourceAddress, DestAddress {
  serviceType: string;
}
interface ReplaceSmBody extends MessageIdBody, SourceAddress {
  scheduleDeliveryTime: string;
  validityPeriod: string;
  registeredDelivery: number;
  smDefaultMsgId: number;
  shortMessage: Buffer;
}
interface AlertNotificationBody extends SourceAddress {
  esmeAddrTon: number;
  esmeAddrNpi: number;
  esmeAddr: string;
}
type Empty = Record<never, never>;

/** The body fields of each PDU, by command name. */
export interface PduBodies {
  bind_receiver: BindBody;
  bind_receiver_resp: SystemIdBody;
  bind_transmitter: BindBody;
  bind_transmitter_resp: SystemIdBody;
  bind_transceiver: BindBody;
  bind_transceiver_resp: SystemIdBody;
  outbind: Omit<BindBody, 'systemType' | 'interfaceVersion' | 'addrTon' | 'addrNpi' | 'addressRange'>;
  unbind: Empty;
  unbind_resp: Empty;
  generic_nack: Empty;
  submit_sm: SmBody;
  submit_sm_resp: MessageIdBody;
  submit_multi: SubmitMultiBody;
  submit_multi_resp: SubmitMultiRespBody;
  deliver_sm: SmBody;
  deliver_sm_resp: MessageIdBody;
  data_sm: DataSmBody;
  data_sm_resp: MessageIdBody;
  query_sm: QuerySmBody;
  query_sm_resp: QuerySmRespBody;
  cancel_sm: CancelSmBody;
  cancel_sm_resp: Empty;
  replace_sm: ReplaceSmBody;
  replace_sm_resp: Empty;
  enquire_link: Empty;
  enquire_link_resp: Empty;
  alert_notification: AlertNotificationBody;
}

export type PduCommand = keyof PduBodies;

/** A decoded PDU: every field present. */
export type PduOf<C extends PduCommand> = { command: C; sequence: number; status: number; tlvs: Tlvs } & PduBodies[C];
export type Pdu = { [C in PduCommand]: PduOf<C> }[PduCommand];

/** A PDU to encode: every field but `command` may be left out and takes its default (0, '', empty). */
export type PduInit<C extends PduCommand> = { command: C; sequence?: number; status?: number; tlvs?: Tlvs } & Partial<PduBodies[C]>;
export type AnyPduInit = { [C in PduCommand]: PduInit<C> }[PduCommand];

/** Requests that the peer answers with `<command>_resp`. */
export type RequestCommand = Exclude<PduCommand, `${string}_resp` | 'generic_nack' | 'outbind' | 'alert_notification'>;
export type ResponseCommand = `${RequestCommand}_resp`;
/** The PDU a request is answered with: its own response, or generic_nack when the peer could not read it. */
export type ResponseTo<C extends RequestCommand> = PduOf<`${C}_resp`> | PduOf<'generic_nack'>;

export const CommandId: { readonly [C in PduCommand]: number } = Object.freeze({
  bind_receiver: 0x01,
  bind_receiver_resp: 0x80000001,
  bind_transmitter: 0x02,
  bind_transmitter_resp: 0x80000002,
  query_sm: 0x03,
  query_sm_resp: 0x80000003,
  submit_sm: 0x04,
  submit_sm_resp: 0x80000004,
  deliver_sm: 0x05,
  deliver_sm_resp: 0x80000005,
  unbind: 0x06,
  unbind_resp: 0x80000006,
  replace_sm: 0x07,
  replace_sm_resp: 0x80000007,
  cancel_sm: 0x08,
  cancel_sm_resp: 0x80000008,
  bind_transceiver: 0x09,
  bind_transceiver_resp: 0x80000009,
  outbind: 0x0b,
  enquire_link: 0x15,
  enquire_link_resp: 0x80000015,
  submit_multi: 0x21,
  submit_multi_resp: 0x80000021,
  alert_notification: 0x102,
  data_sm: 0x103,
  data_sm_resp: 0x80000103,
  generic_nack: 0x80000000,
});

const COMMAND_BY_ID = new Map<number, PduCommand>(Object.entries(CommandId).map(([name, id]) => [id, name as PduCommand]));

/** The command name of a command_id, or undefined for ids SMPP 3.4 does not define. */
export function commandName(commandId: number): PduCommand | undefined {
  return COMMAND_BY_ID.get(commandId);
}

/** Responses have bit 31 of command_id set; generic_nack is one. */
export function isResponseId(commandId: number): boolean {
  return commandId >= 0x80000000;
}

export function isRequestCommand(command: PduCommand): command is RequestCommand {
  return !isResponseId(CommandId[command]) && command !== 'outbind' && command !== 'alert_notification';
}

export function responseCommand<C extends RequestCommand>(command: C): `${C}_resp` {
  return `${command}_resp`;
}

// ── field table ──────────────────────────────────────────────────────────────

type FieldKind = 'u8' | 'u32' | 'cstr' | 'sm' | 'dests' | 'unsuccess';
type Field = readonly [key: string, kind: FieldKind, defaultValue?: number];

const SOURCE: Field[] = [['sourceAddrTon', 'u8'], ['sourceAddrNpi', 'u8'], ['sourceAddr', 'cstr']];
const DEST: Field[] = [['destAddrTon', 'u8'], ['destAddrNpi', 'u8'], ['destinationAddr', 'cstr']];
const BIND: Field[] = [
  ['systemId', 'cstr'], ['password', 'cstr'], ['systemType', 'cstr'], ['interfaceVersion', 'u8', 0x34],
  ['addrTon', 'u8'], ['addrNpi', 'u8'], ['addressRange', 'cstr'],
];
const MESSAGE_TAIL: Field[] = [
  ['esmClass', 'u8'], ['protocolId', 'u8'], ['priorityFlag', 'u8'], ['scheduleDeliveryTime', 'cstr'], ['validityPeriod', 'cstr'],
  ['registeredDelivery', 'u8'], ['replaceIfPresentFlag', 'u8'], ['dataCoding', 'u8'], ['smDefaultMsgId', 'u8'], ['shortMessage', 'sm'],
];
const SM: Field[] = [['serviceType', 'cstr'], ...SOURCE, ...DEST, ...MESSAGE_TAIL];
const SYSTEM_ID: Field[] = [['systemId', 'cstr']];
const MESSAGE_ID: Field[] = [['messageId', 'cstr']];

/** The mandatory fields of each PDU in wire order (SMPP 3.4 §4). */
const FIELDS: { readonly [C in PduCommand]: readonly Field[] } = {
  bind_receiver: BIND,
  bind_receiver_resp: SYSTEM_ID,
  bind_transmitter: BIND,
  bind_transmitter_resp: SYSTEM_ID,
  bind_transceiver: BIND,
  bind_transceiver_resp: SYSTEM_ID,
  outbind: [['systemId', 'cstr'], ['password', 'cstr']],
  unbind: [],
  unbind_resp: [],
  generic_nack: [],
  submit_sm: SM,
  submit_sm_resp: MESSAGE_ID,
  submit_multi: [['serviceType', 'cstr'], ...SOURCE, ['destAddresses', 'dests'], ...MESSAGE_TAIL],
  submit_multi_resp: [...MESSAGE_ID, ['unsuccessSmes', 'unsuccess']],
  deliver_sm: SM,
  deliver_sm_resp: MESSAGE_ID,
  data_sm: [['serviceType', 'cstr'], ...SOURCE, ...DEST, ['esmClass', 'u8'], ['registeredDelivery', 'u8'], ['dataCoding', 'u8']],
  data_sm_resp: MESSAGE_ID,
  query_sm: [...MESSAGE_ID, ...SOURCE],
  query_sm_resp: [...MESSAGE_ID, ['finalDate', 'cstr'], ['messageState', 'u8'], ['errorCode', 'u8']],
  cancel_sm: [['serviceType', 'cstr'], ...MESSAGE_ID, ...SOURCE, ...DEST],
  cancel_sm_resp: [],
  replace_sm: [
    ...MESSAGE_ID, ...SOURCE, ['scheduleDeliveryTime', 'cstr'], ['validityPeriod', 'cstr'], ['registeredDelivery', 'u8'],
    ['smDefaultMsgId', 'u8'], ['shortMessage', 'sm'],
  ],
  replace_sm_resp: [],
  enquire_link: [],
  enquire_link_resp: [],
  alert_notification: [...SOURCE, ['esmeAddrTon', 'u8'], ['esmeAddrNpi', 'u8'], ['esmeAddr', 'cstr']],
};

const HEADER_BYTES = 16;

// ── encoding ─────────────────────────────────────────────────────────────────

class Writer {
  buf = Buffer.allocUnsafe(256);
  off = 0;

  ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }
  u8(v: number, what: string): void {
    checkInt(v, 0xff, what);
    this.ensure(1);
    this.buf[this.off++] = v;
  }
  u16(v: number, what: string): void {
    checkInt(v, 0xffff, what);
    this.ensure(2);
    this.off = this.buf.writeUInt16BE(v, this.off);
  }
  u32(v: number, what: string): void {
    checkInt(v, 0xffffffff, what);
    this.ensure(4);
    this.off = this.buf.writeUInt32BE(v, this.off);
  }
  cstr(s: string, what: string): void {
    if (typeof s !== 'string' || !/^[\x01-\xff]*$/.test(s)) throw new RangeError(`${what}: must be a string of octets 0x01..0xFF`);
    this.ensure(s.length + 1);
    this.off += this.buf.write(s, this.off, 'latin1');
    this.buf[this.off++] = 0;
  }
  octets(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }
}

function checkInt(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what}: ${String(v)} is not an integer in 0..${max}`);
}

/**
 * The wire bytes of a PDU. Missing fields take their defaults; a value that
 * cannot be encoded (a number out of range, a string with NUL or characters
 * past U+00FF, short_message over 255 octets) throws a RangeError naming it.
 */
export function encodePdu(pdu: AnyPduInit): Buffer {
  const fields = FIELDS[pdu.command];
  if (fields === undefined) throw new RangeError(`unknown command ${String(pdu.command)}`);
  const w = new Writer();
  w.off = HEADER_BYTES;
  const values = pdu as unknown as Record<string, unknown>;
  for (const [key, kind, defaultValue] of fields) encodeField(w, kind, values[key] ?? defaultValue, `${pdu.command}.${key}`);
  if (pdu.tlvs) encodeTlvs(w, pdu.tlvs);
  const status = checked(pdu.status ?? 0, 0xffffffff, `${pdu.command}.status`);
  const sequence = checked(pdu.sequence ?? 0, 0xffffffff, `${pdu.command}.sequence`);
  const out = w.buf.subarray(0, w.off);
  out.writeUInt32BE(out.length, 0);
  out.writeUInt32BE(CommandId[pdu.command], 4);
  out.writeUInt32BE(status, 8);
  out.writeUInt32BE(sequence, 12);
  return out;
}

function encodeField(w: Writer, kind: FieldKind, value: unknown, what: string): void {
  switch (kind) {
    case 'u8':
      return w.u8((value as number | undefined) ?? 0, what);
    case 'u32':
      return w.u32((value as number | undefined) ?? 0, what);
    case 'cstr':
      return w.cstr((value as string | undefined) ?? '', what);
    case 'sm': {
      const sm = (value as Uint8Array | undefined) ?? Buffer.alloc(0);
      if (sm.length > 255) throw new RangeError(`${what}: ${sm.length} octets, at most 255 (use tlvs.messagePayload)`);
      w.u8(sm.length, what);
      return w.octets(sm);
    }
    case 'dests': {
      const dests = (value as MultiDestination[] | undefined) ?? [];
      w.u8(dests.length, `${what}.length`);
      for (const d of dests) {
        if ('dlName' in d) {
          w.u8(2, what);
          w.cstr(d.dlName, `${what}.dlName`);
        } else {
          w.u8(1, what);
          w.u8(d.destAddrTon ?? 0, `${what}.destAddrTon`);
          w.u8(d.destAddrNpi ?? 0, `${what}.destAddrNpi`);
          w.cstr(d.destinationAddr ?? '', `${what}.destinationAddr`);
        }
      }
      return;
    }
    case 'unsuccess': {
      const smes = (value as UnsuccessSme[] | undefined) ?? [];
      w.u8(smes.length, `${what}.length`);
      for (const s of smes) {
        w.u8(s.destAddrTon ?? 0, `${what}.destAddrTon`);
        w.u8(s.destAddrNpi ?? 0, `${what}.destAddrNpi`);
        w.cstr(s.destinationAddr ?? '', `${what}.destinationAddr`);
        w.u32(s.errorStatusCode ?? 0, `${what}.errorStatusCode`);
      }
    }
  }
}

function encodeTlvs(w: Writer, tlvs: Tlvs): void {
  for (const [key, tag, kind] of NAMED_TLVS) {
    const value = tlvs[key];
    if (value === undefined) continue;
    const what = `tlvs.${key}`;
    const octets =
      kind === 'u8' ? Buffer.of(checked(value as number, 0xff, what))
      : kind === 'u16' ? Buffer.from([checked(value as number, 0xffff, what) >> 8, (value as number) & 0xff])
      : kind === 'cstr' ? cstrOctets(value as string, what)
      : (value as Buffer);
    if (kind === 'octets3' && octets.length !== 3) throw new RangeError(`${what}: must be 3 octets`);
    writeTlv(w, tag, octets, what);
  }
  for (const raw of tlvs.other ?? []) writeTlv(w, raw.tag, raw.value, `tlv 0x${raw.tag.toString(16)}`);
}

function checked(v: number, max: number, what: string): number {
  checkInt(v, max, what);
  return v;
}

function cstrOctets(s: string, what: string): Buffer {
  const w = new Writer();
  w.cstr(s, what);
  return w.buf.subarray(0, w.off);
}

function writeTlv(w: Writer, tag: number, value: Uint8Array, what: string): void {
  if (value.length > 0xffff) throw new RangeError(`${what}: ${value.length} octets, at most 65535`);
  w.u16(tag, `${what}.tag`);
  w.u16(value.length, `${what}.length`);
  w.octets(value);
}

// ── decoding ─────────────────────────────────────────────────────────────────

/**
 * Why a PDU could not be read, with what is known of it. `fatal` means the
 * byte stream itself is lost (command_length out of bounds): answer
 * generic_nack and close. Otherwise the PDU was skipped whole and the stream
 * goes on; a request is answered generic_nack with `status` and `sequence`.
 */
export interface PduDecodeError {
  fatal: boolean;
  /** the command_status to answer with: ESME_RINVCMDLEN, ESME_RINVCMDID, ESME_RINVMSGLEN, ESME_RINVOPTPARSTREAM… */
  status: number;
  /** 0 when the header was not complete */
  sequence: number;
  commandId: number;
  reason: string;
}

export type DecodeResult = { ok: true; pdu: Pdu } | { ok: false; error: PduDecodeError };

/** Thrown inside the decoder only; never a stack trace per malformed PDU. */
class Malformed {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string) {
    this.status = status;
    this.reason = reason;
  }
}

class Reader {
  readonly buf: Buffer;
  readonly lenient: boolean;
  off: number;

  constructor(buf: Buffer, off: number, lenient: boolean) {
    this.buf = buf;
    this.off = off;
    this.lenient = lenient;
  }
  need(n: number, what: string): void {
    if (this.off + n > this.buf.length) throw new Malformed(0x02, `${what} runs past the end of the PDU`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.off++]!;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  cstr(what: string): string {
    const nul = this.buf.indexOf(0, this.off);
    if (nul === -1) {
      if (!this.lenient) throw new Malformed(0x02, `${what} has no terminating NUL`);
      const s = this.buf.toString('latin1', this.off);
      this.off = this.buf.length;
      return s;
    }
    const s = this.buf.toString('latin1', this.off, nul);
    this.off = nul + 1;
    return s;
  }
  octets(n: number, what: string): Buffer {
    if (this.off + n > this.buf.length) throw new Malformed(0x01, `${what} (${n} octets) runs past the end of the PDU`);
    const b = Buffer.from(this.buf.subarray(this.off, this.off + n));
    this.off += n;
    return b;
  }
}

/**
 * Reads one whole PDU (`buf` is exactly command_length octets; framing.ts
 * cuts the stream). Never throws.
 */
export function decodePdu(buf: Buffer): DecodeResult {
  if (buf.length < HEADER_BYTES || buf.readUInt32BE(0) !== buf.length) {
    const sequence = buf.length >= HEADER_BYTES ? buf.readUInt32BE(12) : 0;
    const commandId = buf.length >= 8 ? buf.readUInt32BE(4) : 0;
    return { ok: false, error: { fatal: true, status: 0x02, sequence, commandId, reason: 'command_length does not match the PDU' } };
  }
  const commandId = buf.readUInt32BE(4);
  const status = buf.readUInt32BE(8);
  const sequence = buf.readUInt32BE(12);
  const command = COMMAND_BY_ID.get(commandId);
  if (command === undefined) {
    const reason = `unknown command_id 0x${commandId.toString(16).padStart(8, '0')}`;
    return { ok: false, error: { fatal: false, status: 0x03, sequence, commandId, reason } };
  }
  try {
    const r = new Reader(buf, HEADER_BYTES, isResponseId(commandId));
    const pdu: Record<string, unknown> = { command, sequence, status };
    let ended = false;
    for (const [key, kind, defaultValue] of FIELDS[command]) {
      if (!ended && r.lenient && r.off === buf.length) ended = true;
      pdu[key] = ended ? defaultFor(kind, defaultValue) : decodeField(r, kind, `${command}.${key}`);
    }
    pdu.tlvs = decodeTlvs(r);
    return { ok: true, pdu: pdu as Pdu };
  } catch (err) {
    const m = err instanceof Malformed ? err : new Malformed(0x08, `decoder failure: ${String(err)}`);
    return { ok: false, error: { fatal: false, status: m.status, sequence, commandId, reason: `${command}: ${m.reason}` } };
  }
}

function defaultFor(kind: FieldKind, defaultValue: number | undefined): unknown {
  switch (kind) {
    case 'u8':
    case 'u32':
      return defaultValue ?? 0;
    case 'cstr':
      return '';
    case 'sm':
      return Buffer.alloc(0);
    case 'dests':
    case 'unsuccess':
      return [];
  }
}

function decodeField(r: Reader, kind: FieldKind, what: string): unknown {
  switch (kind) {
    case 'u8':
      return r.u8(what);
    case 'u32':
      return r.u32(what);
    case 'cstr':
      return r.cstr(what);
    case 'sm':
      return r.octets(r.u8(`${what} sm_length`), what);
    case 'dests': {
      const n = r.u8(`${what} number_of_dests`);
      const dests: MultiDestination[] = [];
      for (let i = 0; i < n; i++) {
        const flag = r.u8(`${what} dest_flag`);
        if (flag === 1) dests.push({ destAddrTon: r.u8(what), destAddrNpi: r.u8(what), destinationAddr: r.cstr(what) });
        else if (flag === 2) dests.push({ dlName: r.cstr(what) });
        else throw new Malformed(0x40, `${what}: dest_flag ${flag}`);
      }
      return dests;
    }
    case 'unsuccess': {
      const n = r.u8(`${what} no_unsuccess`);
      const smes: UnsuccessSme[] = [];
      for (let i = 0; i < n; i++) {
        smes.push({ destAddrTon: r.u8(what), destAddrNpi: r.u8(what), destinationAddr: r.cstr(what), errorStatusCode: r.u32(what) });
      }
      return smes;
    }
  }
}

function decodeTlvs(r: Reader): Tlvs {
  const tlvs: Tlvs = {};
  const buf = r.buf;
  while (r.off < buf.length) {
    if (r.off + 4 > buf.length) throw new Malformed(0xc0, 'truncated TLV header');
    const tag = buf.readUInt16BE(r.off);
    const length = buf.readUInt16BE(r.off + 2);
    r.off += 4;
    if (r.off + length > buf.length) throw new Malformed(0xc0, `TLV 0x${tag.toString(16).padStart(4, '0')} runs past the end of the PDU`);
    const value = Buffer.from(buf.subarray(r.off, r.off + length));
    r.off += length;
    const named = NAMED_BY_TAG.get(tag);
    if (named === undefined || tlvs[named[0]] !== undefined || !setNamedTlv(tlvs, named[0], named[2], value)) {
      (tlvs.other ??= []).push({ tag, value });
    }
  }
  return tlvs;
}

function setNamedTlv(tlvs: Tlvs, key: NamedTlv, kind: TlvKind, value: Buffer): boolean {
  const t = tlvs as Record<NamedTlv, unknown>;
  switch (kind) {
    case 'u8':
      if (value.length !== 1) return false;
      t[key] = value[0];
      return true;
    case 'u16':
      if (value.length !== 2) return false;
      t[key] = value.readUInt16BE(0);
      return true;
    case 'cstr': {
      const nul = value.indexOf(0);
      // Bytes after the NUL would be lost on re-encoding: keep such a value raw.
      if (nul !== -1 && nul !== value.length - 1) return false;
      t[key] = value.toString('latin1', 0, nul === -1 ? value.length : nul);
      return true;
    }
    case 'octets3':
      if (value.length !== 3) return false;
      t[key] = value;
      return true;
    case 'octets':
      t[key] = value;
      return true;
  }
}

/** Every TLV of a PDU as tag and octets, in the order `encodePdu` writes them. */
export function tlvList(tlvs: Tlvs): RawTlv[] {
  const w = new Writer();
  encodeTlvs(w, tlvs);
  const out: RawTlv[] = [];
  for (let off = 0; off < w.off; ) {
    const length = w.buf.readUInt16BE(off + 2);
    out.push({ tag: w.buf.readUInt16BE(off), value: Buffer.from(w.buf.subarray(off + 4, off + 4 + length)) });
    off += 4 + length;
  }
  return out;
}

/** The octets of one TLV by tag, named or not: for TLVs this codec has no name for. */
export function getTlv(tlvs: Tlvs, tag: number): Buffer | undefined {
  return tlvList(tlvs).find((t) => t.tag === tag)?.value;
}
