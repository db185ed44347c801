/**
 * Addresses: IPv4 as an unsigned 32-bit number, IPv6 as a 16-byte `Uint8Array` (often a view
 * into a packet), MAC as a 6-byte `Uint8Array`. Text forms: dotted quad (no leading zeros, as
 * Node's `net.isIPv4`), IPv6 per RFC 4291 §2.2 on input and RFC 5952 on output, MAC as
 * `02:00:00:00:00:02`.
 *
 * Parsers return null for anything malformed and never throw. Functions that build an address
 * take an optional `out` array so hot paths can avoid allocating.
 */

export const IPV4_BROADCAST = 0xffffffff;
export const IPV4_UNSPECIFIED = 0;

/** Shared constants: never write into them. */
export const IPV6_UNSPECIFIED: Uint8Array = new Uint8Array(16);
export const IPV6_LOOPBACK: Uint8Array = ipv6Const([0, 0, 0, 0, 0, 0, 0, 1]);
/** ff02::1, all nodes (link-local scope). */
export const IPV6_ALL_NODES: Uint8Array = ipv6Const([0xff02, 0, 0, 0, 0, 0, 0, 1]);
/** ff02::2, all routers (link-local scope). */
export const IPV6_ALL_ROUTERS: Uint8Array = ipv6Const([0xff02, 0, 0, 0, 0, 0, 0, 2]);
/** ff02::16, all MLDv2-capable routers (RFC 3810 §5.2.14). */
export const IPV6_ALL_MLDV2_ROUTERS: Uint8Array = ipv6Const([0xff02, 0, 0, 0, 0, 0, 0, 0x16]);

export const MAC_BROADCAST: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
export const MAC_ZERO: Uint8Array = new Uint8Array(6);

function ipv6Const(groups: number[]): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    b[i * 2] = groups[i]! >>> 8;
    b[i * 2 + 1] = groups[i]! & 0xff;
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// IPv4

/** Parses a dotted quad `a.b.c.d` (decimal, 0-255, no leading zeros); null if malformed. */
export function parseIpv4(s: string): number | null {
  return parseIpv4At(s, 0, s.length);
}

function parseIpv4At(s: string, start: number, end: number): number | null {
  let result = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    if (i >= end) return null;
    let v = 0;
    let digits = 0;
    const first = i;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      digits++;
      i++;
      if (digits > 3) return null;
    }
    if (digits === 0 || v > 255) return null;
    if (digits > 1 && s.charCodeAt(first) === 48) return null; // leading zero
    result = result * 256 + v;
    parts++;
    if (parts < 4) {
      if (i >= end || s.charCodeAt(i) !== 46) return null; // '.'
      i++;
    }
  }
  return i === end ? result : null;
}

/** Formats an unsigned 32-bit address as a dotted quad. */
export function formatIpv4(a: number): string {
  return `${(a >>> 24) & 0xff}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** The netmask for a prefix length 0..32, as an unsigned number. */
export function ipv4Mask(prefix: number): number {
  if (prefix <= 0) return 0;
  if (prefix >= 32) return 0xffffffff;
  return (0xffffffff << (32 - prefix)) >>> 0;
}

/** The network address: `a` with the host bits cleared. */
export function ipv4Network(a: number, prefix: number): number {
  return (a & ipv4Mask(prefix)) >>> 0;
}

/** The directed broadcast address of the subnet `a/prefix` (host bits all ones). */
export function ipv4SubnetBroadcast(a: number, prefix: number): number {
  return (a | ~ipv4Mask(prefix)) >>> 0;
}

/** True when `a` is inside `net/prefix` (host bits of `net` are ignored). */
export function ipv4InPrefix(a: number, net: number, prefix: number): boolean {
  return ((a ^ net) & ipv4Mask(prefix)) === 0;
}

/** 255.255.255.255, the limited broadcast. */
export function isIpv4Broadcast(a: number): boolean {
  return a >>> 0 === IPV4_BROADCAST;
}
/** 224.0.0.0/4. */
export function isIpv4Multicast(a: number): boolean {
  return a >>> 28 === 0xe;
}
/** 127.0.0.0/8. */
export function isIpv4Loopback(a: number): boolean {
  return a >>> 24 === 127;
}
/** 0.0.0.0. */
export function isIpv4Unspecified(a: number): boolean {
  return a >>> 0 === 0;
}
/** 169.254.0.0/16 (RFC 3927). */
export function isIpv4LinkLocal(a: number): boolean {
  return a >>> 16 === 0xa9fe;
}

// ---------------------------------------------------------------------------------------------
// IPv6

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses any RFC 4291 §2.2 text form: full, `::`-compressed, and with an embedded dotted quad in
 * the last 32 bits (`::ffff:1.2.3.4`, `64:ff9b::192.0.2.1`). Zone ids (`%eth0`) are rejected:
 * use `splitZone` first. Returns null if malformed.
 */
export function parseIpv6(s: string, out: Uint8Array = new Uint8Array(16)): Uint8Array | null {
  const n = s.length;
  if (n < 2 || n > 45) return null;
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0; // groups written
  let gap = -1; // group index where '::' sits
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    // must be '::'
    if (s.charCodeAt(1) !== 58) return null;
    gap = 0;
    i = 2;
    if (i === n) {
      out.fill(0);
      return out;
    }
  }
  for (;;) {
    if (count >= 8) return null;
    // read a group: up to 4 hex digits, or a dotted quad at the end
    const start = i;
    let v = 0;
    while (i < n && i - start < 5) {
      const h = hexVal(s.charCodeAt(i));
      if (h < 0) break;
      v = (v << 4) | h;
      i++;
    }
    const digits = i - start;
    if (i < n && s.charCodeAt(i) === 46) {
      // embedded IPv4: takes two groups, must be last
      if (count > 6) return null;
      const v4 = parseIpv4At(s, start, n);
      if (v4 === null) return null;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = n;
      break;
    }
    if (digits === 0 || digits > 4) return null;
    groups[count++] = v;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return null;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (gap >= 0) return null; // a second '::'
      gap = count;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return null; // trailing single ':'
    }
  }
  if (gap < 0) {
    if (count !== 8) return null;
  } else if (count > 7) {
    return null; // '::' must stand for at least one group
  }
  // write: groups before the gap, zeros, groups after
  out.fill(0);
  const tail = gap < 0 ? 0 : count - gap;
  const head = count - tail;
  for (let g = 0; g < head; g++) {
    out[g * 2] = groups[g]! >>> 8;
    out[g * 2 + 1] = groups[g]! & 0xff;
  }
  for (let g = 0; g < tail; g++) {
    const dst = 8 - tail + g;
    out[dst * 2] = groups[head + g]! >>> 8;
    out[dst * 2 + 1] = groups[head + g]! & 0xff;
  }
  return out;
}

/** Splits `fe80::1%tun0` into the address text and the zone (null when there is none). */
export function splitZone(s: string): { addr: string; zone: string | null } {
  const p = s.indexOf('%');
  if (p < 0) return { addr: s, zone: null };
  return { addr: s.slice(0, p), zone: s.slice(p + 1) };
}

/**
 * Formats 16 bytes per RFC 5952: lowercase, no leading zeros, the longest run of two or more
 * zero groups compressed to `::` (the leftmost on a tie), and IPv4-mapped addresses
 * (`::ffff:0:0/96`) with a dotted quad (§5).
 */
export function formatIpv6(b: Uint8Array): string {
  const g = (k: number): number => (b[k * 2]! << 8) | b[k * 2 + 1]!;
  // IPv4-mapped
  if (g(0) === 0 && g(1) === 0 && g(2) === 0 && g(3) === 0 && g(4) === 0 && g(5) === 0xffff) {
    return '::ffff:' + `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  let runStart = -1;
  for (let k = 0; k <= 8; k++) {
    if (k < 8 && g(k) === 0) {
      if (runStart < 0) runStart = k;
    } else if (runStart >= 0) {
      const len = k - runStart;
      if (len > bestLen) {
        bestLen = len;
        bestStart = runStart;
      }
      runStart = -1;
    }
  }
  if (bestLen < 2) bestStart = -1;
  let s = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      s += '::';
      k += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += g(k).toString(16);
  }
  return s;
}

/** Byte-wise equality of two 16-byte addresses. */
export function ipv6Equal(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when the first `prefix` bits (0..128) of `a` and `net` are equal. */
export function ipv6InPrefix(a: Uint8Array, net: Uint8Array, prefix: number): boolean {
  if (prefix > 128) prefix = 128;
  const whole = prefix >>> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== net[i]) return false;
  const rem = prefix & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return ((a[whole]! ^ net[whole]!) & mask) === 0;
}

/** `a` with bits after `prefix` cleared. */
export function ipv6Network(a: Uint8Array, prefix: number, out: Uint8Array = new Uint8Array(16)): Uint8Array {
  for (let i = 0; i < 16; i++) {
    const bits = prefix - i * 8;
    const m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
    out[i] = a[i]! & m;
  }
  return out;
}

/** ff00::/8. */
export function isIpv6Multicast(a: Uint8Array): boolean {
  return a[0] === 0xff;
}
/** The scope nibble of a multicast address (RFC 4291 §2.7): 1 interface, 2 link, 5 site, 0xe global. */
export function ipv6MulticastScope(a: Uint8Array): number {
  return a[1]! & 0x0f;
}
/** fe80::/10. */
export function isIpv6LinkLocal(a: Uint8Array): boolean {
  return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
}
/** ::. */
export function isIpv6Unspecified(a: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== 0) return false;
  return true;
}
/** ::1. */
export function isIpv6Loopback(a: Uint8Array): boolean {
  for (let i = 0; i < 15; i++) if (a[i] !== 0) return false;
  return a[15] === 1;
}
/** ff02::1:ff00:0/104. */
export function isIpv6SolicitedNode(a: Uint8Array): boolean {
  if (a[0] !== 0xff || a[1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (a[i] !== 0) return false;
  return a[11] === 0x01 && a[12] === 0xff;
}

/** The solicited-node multicast address of `a`: ff02::1:ff00:0/104 plus its low 24 bits (RFC 4291 §2.7.1). */
export function solicitedNodeMulticast(a: Uint8Array, out: Uint8Array = new Uint8Array(16)): Uint8Array {
  const x = a[13]!;
  const y = a[14]!;
  const z = a[15]!; // read first: `out` may alias `a`
  out.fill(0);
  out[0] = 0xff;
  out[1] = 0x02;
  out[11] = 0x01;
  out[12] = 0xff;
  out[13] = x;
  out[14] = y;
  out[15] = z;
  return out;
}

/** The Ethernet address of an IPv6 multicast group: 33:33 and the low 32 bits (RFC 2464 §7). */
export function ipv6MulticastMac(a: Uint8Array, out: Uint8Array = new Uint8Array(6)): Uint8Array {
  out[0] = 0x33;
  out[1] = 0x33;
  out[2] = a[12]!;
  out[3] = a[13]!;
  out[4] = a[14]!;
  out[5] = a[15]!;
  return out;
}

/** The Ethernet address of an IPv4 multicast group: 01:00:5e and the low 23 bits (RFC 1112 §6.4). */
export function ipv4MulticastMac(a: number, out: Uint8Array = new Uint8Array(6)): Uint8Array {
  out[0] = 0x01;
  out[1] = 0x00;
  out[2] = 0x5e;
  out[3] = (a >>> 16) & 0x7f;
  out[4] = (a >>> 8) & 0xff;
  out[5] = a & 0xff;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Prefixes

export type Cidr = { family: 4; addr: number; prefix: number } | { family: 6; addr: Uint8Array; prefix: number };

/**
 * Parses `10.0.0.2/24` or `fd00::2/64` (host bits kept: this is an interface address and its
 * subnet). The prefix is decimal without leading zeros; a missing prefix is an error.
 */
export function parseCidr(s: string): Cidr | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const ps = s.slice(slash + 1);
  if (ps.length === 0 || ps.length > 3 || (ps.length > 1 && ps.charCodeAt(0) === 48)) return null;
  let prefix = 0;
  for (let i = 0; i < ps.length; i++) {
    const c = ps.charCodeAt(i);
    if (c < 48 || c > 57) return null;
    prefix = prefix * 10 + (c - 48);
  }
  const as = s.slice(0, slash);
  if (as.indexOf(':') >= 0) {
    if (prefix > 128) return null;
    const addr = parseIpv6(as);
    return addr ? { family: 6, addr, prefix } : null;
  }
  if (prefix > 32) return null;
  const addr = parseIpv4(as);
  return addr === null ? null : { family: 4, addr, prefix };
}

// ---------------------------------------------------------------------------------------------
// MAC

/** Parses `02:00:5e:10:00:01` (or with `-`), two hex digits per byte; null if malformed. */
export function parseMac(s: string, out: Uint8Array = new Uint8Array(6)): Uint8Array | null {
  if (s.length !== 17) return null;
  const sep = s.charCodeAt(2);
  if (sep !== 58 && sep !== 45) return null;
  for (let i = 0; i < 6; i++) {
    if (hexVal(s.charCodeAt(i * 3)) < 0 || hexVal(s.charCodeAt(i * 3 + 1)) < 0) return null;
    if (i < 5 && s.charCodeAt(i * 3 + 2) !== sep) return null;
  }
  // validated first, so `out` is untouched on failure
  for (let i = 0; i < 6; i++) out[i] = (hexVal(s.charCodeAt(i * 3)) << 4) | hexVal(s.charCodeAt(i * 3 + 1));
  return out;
}

const HEX = '0123456789abcdef';

/** Formats 6 bytes as lowercase `xx:xx:xx:xx:xx:xx`. */
export function formatMac(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const v = b[i] ?? 0;
    if (i > 0) s += ':';
    s += HEX[v >>> 4]! + HEX[v & 15]!;
  }
  return s;
}

export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
/** ff:ff:ff:ff:ff:ff. */
export function isMacBroadcast(a: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== 0xff) return false;
  return true;
}
/** Group bit set (includes broadcast). */
export function isMacMulticast(a: Uint8Array): boolean {
  return (a[0]! & 1) === 1;
}
