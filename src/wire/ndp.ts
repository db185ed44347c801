/**
 * Neighbor Discovery for IPv6 (RFC 4861): ICMPv6 types 133-137 and their options.
 *
 *  0      7 8     15 16    23 24    31
 * +--------+--------+--------+--------+
 * |  Type  | Code=0 |    Checksum     |
 * +--------+--------+--------+--------+
 * | Type-specific word                |  RS: reserved; RA: hop limit, M|O flags, lifetime;
 * +--------+--------+--------+--------+  NA: R|S|O flags + reserved; NS, Redirect: reserved
 * | RA: reachable time, retrans timer; NS, NA: target (16); Redirect: target, destination (32)
 * +--------+--------+--------+--------+
 * | Options: type(8) length(8, in units of 8 octets, never 0) data ...
 *
 * Message lengths: RS >= 8, RA >= 16, NS >= 24, NA >= 24, Redirect >= 40.
 *
 * What this module validates (the message-format part of RFC 4861 §6.1.1, §6.1.2, §7.1.1,
 * §7.1.2, §8.1): ICMP code 0, the minimum length, every option length > 0 and within the
 * message, NS/NA target not multicast, Redirect destination not multicast and its target
 * link-local or equal to the destination. The checks that need the IP header (hop limit 255,
 * source/destination rules) are in `ndpCheckIpHeader`, which the IP layer calls after parsing.
 *
 * Options: Source/Target Link-Layer Address (Ethernet: length 1, a 6-byte address; any other
 * length drops the message like Linux, 'ndp.bad_lla_option'), Prefix Information (length 4;
 * other lengths ignored like Linux), MTU (length 1; other lengths ignored), Redirected Header
 * (kept as a view). Unknown options are skipped. For a repeated SLLA/TLLA/MTU the first one
 * counts (Linux). Per §4.6.1 the SLLA is ignored except in RS/RA/NS, the TLLA except in
 * NA/Redirect.
 *
 * The ICMPv6 checksum (with the IPv6 pseudo-header) is verified by `parseIcmpv6` (which
 * dispatches types 133-137 here) or by `parseNdp`.
 */
import { finish, sumBytes } from './checksum.js';
import { read16, read32, write16, write32 } from './bytes.js';

export const NdpType = {
  RouterSolicit: 133,
  RouterAdvert: 134,
  NeighborSolicit: 135,
  NeighborAdvert: 136,
  Redirect: 137,
} as const;

export const NdpOptionType = {
  SourceLinkAddr: 1,
  TargetLinkAddr: 2,
  PrefixInfo: 3,
  RedirectedHeader: 4,
  Mtu: 5,
} as const;

/** Every ND message must arrive with IPv6 hop limit 255 (checked by `ndpCheckIpHeader`). */
export const NDP_HOP_LIMIT = 255;

export const NdpDrop = {
  /** Not one of types 133-137. */
  notNdp: 'ndp.not_ndp',
  /** Shorter than the minimum for its type. */
  truncated: 'ndp.truncated',
  badCode: 'ndp.bad_code',
  zeroLengthOption: 'ndp.zero_length_option',
  /** An option header or body runs past the end of the message. */
  truncatedOption: 'ndp.truncated_option',
  /** A source/target link-layer address option that is not 6 bytes (Ethernet). */
  badLinkAddrOption: 'ndp.bad_lla_option',
  multicastTarget: 'ndp.multicast_target',
  multicastDestination: 'ndp.multicast_destination',
  badRedirectTarget: 'ndp.bad_redirect_target',
  badChecksum: 'icmpv6.bad_checksum',
  // From ndpCheckIpHeader:
  badHopLimit: 'ndp.bad_hop_limit',
  unspecifiedWithSlla: 'ndp.unspecified_with_slla',
  badDst: 'ndp.bad_dst',
  srcNotLinkLocal: 'ndp.src_not_link_local',
  solicitedToMulticast: 'ndp.solicited_to_multicast',
} as const;

export const NdpRaFlags = { Managed: 0x80, Other: 0x40 } as const;
export const NdpNaFlags = { Router: 0x80, Solicited: 0x40, Override: 0x20 } as const;
export const NdpPrefixFlags = { OnLink: 0x80, Autonomous: 0x40 } as const;

/** Lifetime value meaning "infinity" in prefix options (RFC 4861 §4.6.2). */
export const NDP_INFINITE_LIFETIME = 0xffffffff;

/** True for ICMPv6 types 133-137. */
export function isNdpType(type: number): boolean {
  return type >= NdpType.RouterSolicit && type <= NdpType.Redirect;
}

/** The offset of the options for each ND type (which is also its minimum length); 0 if not ND. */
export function ndpOptionsOffset(type: number): number {
  switch (type) {
    case NdpType.RouterSolicit:
      return 8;
    case NdpType.RouterAdvert:
      return 16;
    case NdpType.NeighborSolicit:
    case NdpType.NeighborAdvert:
      return 24;
    case NdpType.Redirect:
      return 40;
    default:
      return 0;
  }
}

function isMulticast(a: Uint8Array): boolean {
  return a[0] === 0xff;
}

function isLinkLocalUnicast(a: Uint8Array): boolean {
  return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
}

function isUnspecified(a: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== 0) return false;
  return true;
}

function equal16(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The solicited-node group: ff02::1:ff00:0/104 plus the low 24 bits (RFC 4291 §2.7.1). */
function isSolicitedNodeMulticast(a: Uint8Array): boolean {
  if (a[0] !== 0xff || a[1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (a[i] !== 0) return false;
  return a[11] === 0x01 && a[12] === 0xff;
}

/**
 * Walks the options of `buf[start..end)` without allocating: calls `cb(type, offset, length)`
 * with the option's first byte offset and total length in bytes, after checking all of them
 * (no callback runs when the result is a drop reason).
 */
export function forEachNdpOption(
  buf: Uint8Array,
  start: number,
  end: number,
  cb: (type: number, offset: number, length: number) => void,
): string | null {
  const err = checkNdpOptions(buf, start, end);
  if (err) return err;
  let i = start;
  while (i < end) {
    const len = buf[i + 1]! * 8;
    cb(buf[i]!, i, len);
    i += len;
  }
  return null;
}

function checkNdpOptions(buf: Uint8Array, start: number, end: number): string | null {
  let i = start;
  while (i < end) {
    if (i + 2 > end) return NdpDrop.truncatedOption;
    const len = buf[i + 1]! * 8;
    if (len === 0) return NdpDrop.zeroLengthOption;
    if (i + len > end) return NdpDrop.truncatedOption;
    i += len;
  }
  return null;
}

/** A zero-copy view of an ND message (the whole ICMPv6 message). */
export class NdpPacket {
  constructor(readonly buf: Uint8Array) {}

  /** Null when the message is a well-formed ND message (see the module comment); no checksum. */
  static check(buf: Uint8Array): string | null {
    if (buf.length < 4) return NdpDrop.truncated;
    const type = buf[0]!;
    const off = ndpOptionsOffset(type);
    if (off === 0) return NdpDrop.notNdp;
    if (buf.length < off) return NdpDrop.truncated;
    if (buf[1] !== 0) return NdpDrop.badCode;
    const err = checkNdpOptions(buf, off, buf.length);
    if (err) return err;
    if (type === NdpType.NeighborSolicit || type === NdpType.NeighborAdvert) {
      if (buf[8] === 0xff) return NdpDrop.multicastTarget;
    } else if (type === NdpType.Redirect) {
      const p = new NdpPacket(buf);
      const dst = p.destination();
      if (isMulticast(dst)) return NdpDrop.multicastDestination;
      const target = p.target();
      if (!isLinkLocalUnicast(target) && !equal16(target, dst)) return NdpDrop.badRedirectTarget;
    }
    return null;
  }

  get type(): number {
    return this.buf[0]!;
  }
  get code(): number {
    return this.buf[1]!;
  }
  get checksum(): number {
    return read16(this.buf, 2);
  }
  /** RA: Cur Hop Limit (0 = unspecified). */
  get curHopLimit(): number {
    return this.buf[4]!;
  }
  /** RA: the flags byte (M 0x80, O 0x40; NdpRaFlags). */
  get raFlags(): number {
    return this.buf[5]!;
  }
  /** RA: Router Lifetime in seconds (0 = not a default router). */
  get routerLifetime(): number {
    return read16(this.buf, 6);
  }
  /** RA: Reachable Time in milliseconds (0 = unspecified). */
  get reachableTime(): number {
    return read32(this.buf, 8);
  }
  /** RA: Retrans Timer in milliseconds (0 = unspecified). */
  get retransTimer(): number {
    return read32(this.buf, 12);
  }
  /** NA: the flags byte (R 0x80, S 0x40, O 0x20; NdpNaFlags). */
  get naFlags(): number {
    return this.buf[4]!;
  }
  /** NS, NA, Redirect: the target address, as a view. */
  target(): Uint8Array {
    return this.buf.subarray(8, 24);
  }
  /** Redirect: the destination address, as a view. */
  destination(): Uint8Array {
    return this.buf.subarray(24, 40);
  }
  optionsOffset(): number {
    return ndpOptionsOffset(this.type);
  }
  /** The options area, as a view. */
  options(): Uint8Array {
    return this.buf.subarray(this.optionsOffset());
  }

  verifyChecksum(pseudoSum: number): boolean {
    return finish(sumBytes(this.buf, 0, this.buf.length, pseudoSum)) === 0;
  }
}

export interface NdpPrefixInfo {
  prefixLength: number;
  /** L flag. */
  onLink: boolean;
  /** A flag (use for SLAAC). */
  autonomous: boolean;
  /** Seconds; 0xffffffff is infinity. */
  validLifetime: number;
  preferredLifetime: number;
  /** 16 bytes (a view when parsed). */
  prefix: Uint8Array;
}

export interface NdpOptions {
  /** Source link-layer address (6 bytes, a view when parsed). RS, RA, NS only. */
  sourceLinkAddr?: Uint8Array;
  /** Target link-layer address (6 bytes). NA, Redirect only. */
  targetLinkAddr?: Uint8Array;
  /** MTU option (RA). */
  mtu?: number;
  /** Prefix information options (RA), in order. */
  prefixes?: NdpPrefixInfo[];
  /** Redirected Header option (Redirect): the quoted packet, without the 8-byte option header. */
  redirectedHeader?: Uint8Array;
}

export interface NdpRouterSolicitRepr {
  kind: 'routerSolicit';
  options: NdpOptions;
}

export interface NdpRouterAdvertRepr {
  kind: 'routerAdvert';
  curHopLimit: number;
  managed: boolean;
  other: boolean;
  /** Seconds. */
  routerLifetime: number;
  /** Milliseconds. */
  reachableTime: number;
  /** Milliseconds. */
  retransTimer: number;
  options: NdpOptions;
}

export interface NdpNeighborSolicitRepr {
  kind: 'neighborSolicit';
  target: Uint8Array;
  options: NdpOptions;
}

export interface NdpNeighborAdvertRepr {
  kind: 'neighborAdvert';
  router: boolean;
  solicited: boolean;
  override: boolean;
  target: Uint8Array;
  options: NdpOptions;
}

export interface NdpRedirectRepr {
  kind: 'redirect';
  target: Uint8Array;
  destination: Uint8Array;
  options: NdpOptions;
}

export type NdpRepr =
  | NdpRouterSolicitRepr
  | NdpRouterAdvertRepr
  | NdpNeighborSolicitRepr
  | NdpNeighborAdvertRepr
  | NdpRedirectRepr;

/**
 * Parses an ND message whose ICMPv6 checksum has already been verified (this is what
 * `parseIcmpv6` calls). Runs `NdpPacket.check`, then reads the options.
 */
export function parseNdpUnchecked(buf: Uint8Array): NdpRepr | string {
  const err = NdpPacket.check(buf);
  if (err) return err;
  const p = new NdpPacket(buf);
  const type = p.type;
  const options: NdpOptions = {};
  const optErr = readOptions(buf, ndpOptionsOffset(type), type, options);
  if (optErr) return optErr;
  switch (type) {
    case NdpType.RouterSolicit:
      return { kind: 'routerSolicit', options };
    case NdpType.RouterAdvert: {
      const f = p.raFlags;
      return {
        kind: 'routerAdvert',
        curHopLimit: p.curHopLimit,
        managed: (f & NdpRaFlags.Managed) !== 0,
        other: (f & NdpRaFlags.Other) !== 0,
        routerLifetime: p.routerLifetime,
        reachableTime: p.reachableTime,
        retransTimer: p.retransTimer,
        options,
      };
    }
    case NdpType.NeighborSolicit:
      return { kind: 'neighborSolicit', target: p.target(), options };
    case NdpType.NeighborAdvert: {
      const f = p.naFlags;
      return {
        kind: 'neighborAdvert',
        router: (f & NdpNaFlags.Router) !== 0,
        solicited: (f & NdpNaFlags.Solicited) !== 0,
        override: (f & NdpNaFlags.Override) !== 0,
        target: p.target(),
        options,
      };
    }
    default:
      return { kind: 'redirect', target: p.target(), destination: p.destination(), options };
  }
}

/** Checks and parses an ND message (the whole ICMPv6 message), verifying the checksum first. */
export function parseNdp(buf: Uint8Array, pseudoSum: number): NdpRepr | string {
  if (buf.length < 4) return NdpDrop.truncated;
  if (!new NdpPacket(buf).verifyChecksum(pseudoSum)) return NdpDrop.badChecksum;
  return parseNdpUnchecked(buf);
}

/** Options already checked for framing by NdpPacket.check. */
function readOptions(buf: Uint8Array, start: number, type: number, out: NdpOptions): string | null {
  const wantSlla = type === NdpType.RouterSolicit || type === NdpType.RouterAdvert || type === NdpType.NeighborSolicit;
  const wantTlla = type === NdpType.NeighborAdvert || type === NdpType.Redirect;
  let i = start;
  while (i < buf.length) {
    const optType = buf[i]!;
    const len = buf[i + 1]! * 8;
    switch (optType) {
      case NdpOptionType.SourceLinkAddr:
      case NdpOptionType.TargetLinkAddr: {
        const src = optType === NdpOptionType.SourceLinkAddr;
        if (src ? !wantSlla : !wantTlla) break;
        if (len !== 8) return NdpDrop.badLinkAddrOption;
        const addr = buf.subarray(i + 2, i + 8);
        if (src) out.sourceLinkAddr ??= addr;
        else out.targetLinkAddr ??= addr;
        break;
      }
      case NdpOptionType.PrefixInfo:
        if (len !== 32) break;
        (out.prefixes ??= []).push({
          prefixLength: buf[i + 2]!,
          onLink: (buf[i + 3]! & NdpPrefixFlags.OnLink) !== 0,
          autonomous: (buf[i + 3]! & NdpPrefixFlags.Autonomous) !== 0,
          validLifetime: read32(buf, i + 4),
          preferredLifetime: read32(buf, i + 8),
          prefix: buf.subarray(i + 16, i + 32),
        });
        break;
      case NdpOptionType.Mtu:
        if (len !== 8) break;
        out.mtu ??= read32(buf, i + 4);
        break;
      case NdpOptionType.RedirectedHeader:
        out.redirectedHeader ??= buf.subarray(i + 8, i + len);
        break;
      default:
        break;
    }
    i += len;
  }
  return null;
}

/**
 * The checks of RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2 and §8.1 that need the IPv6 header:
 * hop limit 255; RS from :: carries no SLLA; RA and Redirect come from a link-local source;
 * NS from :: goes to a solicited-node multicast address and carries no SLLA; an NA to a
 * multicast destination has S = 0. Returns a drop reason or null.
 */
export function ndpCheckIpHeader(repr: NdpRepr, src: Uint8Array, dst: Uint8Array, hopLimit: number): string | null {
  if (hopLimit !== NDP_HOP_LIMIT) return NdpDrop.badHopLimit;
  switch (repr.kind) {
    case 'routerSolicit':
      if (isUnspecified(src) && repr.options.sourceLinkAddr) return NdpDrop.unspecifiedWithSlla;
      return null;
    case 'routerAdvert':
    case 'redirect':
      return isLinkLocalUnicast(src) ? null : NdpDrop.srcNotLinkLocal;
    case 'neighborSolicit':
      if (isUnspecified(src)) {
        if (!isSolicitedNodeMulticast(dst)) return NdpDrop.badDst;
        if (repr.options.sourceLinkAddr) return NdpDrop.unspecifiedWithSlla;
      }
      return null;
    case 'neighborAdvert':
      return isMulticast(dst) && repr.solicited ? NdpDrop.solicitedToMulticast : null;
  }
}

function ndpTypeOf(repr: NdpRepr): number {
  switch (repr.kind) {
    case 'routerSolicit':
      return NdpType.RouterSolicit;
    case 'routerAdvert':
      return NdpType.RouterAdvert;
    case 'neighborSolicit':
      return NdpType.NeighborSolicit;
    case 'neighborAdvert':
      return NdpType.NeighborAdvert;
    case 'redirect':
      return NdpType.Redirect;
  }
}

function llaOptionLen(addr: Uint8Array): number {
  return Math.ceil((2 + addr.length) / 8) * 8;
}

function optionsLength(o: NdpOptions): number {
  let n = 0;
  if (o.sourceLinkAddr) n += llaOptionLen(o.sourceLinkAddr);
  if (o.targetLinkAddr) n += llaOptionLen(o.targetLinkAddr);
  if (o.mtu !== undefined) n += 8;
  if (o.prefixes) n += 32 * o.prefixes.length;
  if (o.redirectedHeader) n += 8 + Math.ceil(o.redirectedHeader.length / 8) * 8;
  return n;
}

/** The message length `emitNdp` writes (use it for the pseudo-header and the IPv6 payload length). */
export function ndpLength(repr: NdpRepr): number {
  return ndpOptionsOffset(ndpTypeOf(repr)) + optionsLength(repr.options);
}

function writeLla(buf: Uint8Array, i: number, type: number, addr: Uint8Array): number {
  const len = llaOptionLen(addr);
  buf.fill(0, i, i + len);
  buf[i] = type;
  buf[i + 1] = len / 8;
  buf.set(addr, i + 2);
  return i + len;
}

/**
 * Writes the whole ND message (ICMPv6 header, body, options in the order SLLA, TLLA, MTU,
 * prefixes, redirected header; reserved bytes zero) into `buf[0..ndpLength(repr))` with the
 * checksum. `pseudoSum` is pseudoHeaderSumV6(src, dst, 58, ndpLength(repr)). Returns the
 * message length (ND messages have no separate payload).
 */
export function emitNdp(repr: NdpRepr, buf: Uint8Array, pseudoSum: number): number {
  const type = ndpTypeOf(repr);
  const off = ndpOptionsOffset(type);
  const len = off + optionsLength(repr.options);
  buf.fill(0, 0, off);
  buf[0] = type;
  switch (repr.kind) {
    case 'routerSolicit':
      break;
    case 'routerAdvert':
      buf[4] = repr.curHopLimit;
      buf[5] = (repr.managed ? NdpRaFlags.Managed : 0) | (repr.other ? NdpRaFlags.Other : 0);
      write16(buf, 6, repr.routerLifetime);
      write32(buf, 8, repr.reachableTime);
      write32(buf, 12, repr.retransTimer);
      break;
    case 'neighborSolicit':
      buf.set(repr.target.subarray(0, 16), 8);
      break;
    case 'neighborAdvert':
      buf[4] =
        (repr.router ? NdpNaFlags.Router : 0) |
        (repr.solicited ? NdpNaFlags.Solicited : 0) |
        (repr.override ? NdpNaFlags.Override : 0);
      buf.set(repr.target.subarray(0, 16), 8);
      break;
    case 'redirect':
      buf.set(repr.target.subarray(0, 16), 8);
      buf.set(repr.destination.subarray(0, 16), 24);
      break;
  }
  const o = repr.options;
  let i = off;
  if (o.sourceLinkAddr) i = writeLla(buf, i, NdpOptionType.SourceLinkAddr, o.sourceLinkAddr);
  if (o.targetLinkAddr) i = writeLla(buf, i, NdpOptionType.TargetLinkAddr, o.targetLinkAddr);
  if (o.mtu !== undefined) {
    buf[i] = NdpOptionType.Mtu;
    buf[i + 1] = 1;
    write16(buf, i + 2, 0);
    write32(buf, i + 4, o.mtu);
    i += 8;
  }
  for (const p of o.prefixes ?? []) {
    buf.fill(0, i, i + 32);
    buf[i] = NdpOptionType.PrefixInfo;
    buf[i + 1] = 4;
    buf[i + 2] = p.prefixLength;
    buf[i + 3] = (p.onLink ? NdpPrefixFlags.OnLink : 0) | (p.autonomous ? NdpPrefixFlags.Autonomous : 0);
    write32(buf, i + 4, p.validLifetime);
    write32(buf, i + 8, p.preferredLifetime);
    buf.set(p.prefix.subarray(0, 16), i + 16);
    i += 32;
  }
  if (o.redirectedHeader) {
    const n = 8 + Math.ceil(o.redirectedHeader.length / 8) * 8;
    buf.fill(0, i, i + n);
    buf[i] = NdpOptionType.RedirectedHeader;
    buf[i + 1] = n / 8;
    buf.set(o.redirectedHeader, i + 8);
    i += n;
  }
  write16(buf, 2, 0);
  write16(buf, 2, finish(sumBytes(buf, 0, len, pseudoSum)));
  return len;
}
