/**
 * Frame mutators for the stack fuzzer (see stack-fuzz.ts and docs/HARDENING.md).
 *
 * `mutateFrame(rng, frame, kind, pool)` returns one or more mutated copies of a captured frame
 * and the names of the mutations applied (for reports). Mutations know just enough of the wire
 * formats to lie convincingly: they find the IP header behind an Ethernet header, the transport
 * header behind IPv4 options or IPv6 extension headers, and can re-compute checksums afterwards
 * so that a mutated packet gets past the checksum checks and into the deeper parsers.
 *
 * Part of the core's tooling: deterministic from the random source, no Node imports. Nothing
 * here needs to be fast; it must only never throw (callers still guard it).
 */
import { finish, sumBytes, pseudoHeaderSumV4, pseudoHeaderSumV6, checksum } from '../wire/checksum.js';
import { read16, write16 } from '../wire/bytes.js';
import type { LinkKind } from '../link/link.js';

/** The random source the mutators draw from (`SeededRandom` implements it). */
export interface FuzzRandom {
  u32(): number;
  float(): number;
}

export interface Mutated {
  /** The frames to inject (usually one; fragmenting gives several). */
  frames: Uint8Array[];
  /** What was done, e.g. ['ipv4.ihl=3', 'fix_checksums']. */
  ops: string[];
}

const INTERESTING8 = [0, 1, 0x7f, 0x80, 0xff];
const INTERESTING16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0xfffe, 20, 40, 1500, 65535 - 20];

export function randInt(rng: FuzzRandom, n: number): number {
  return n <= 0 ? 0 : rng.u32() % n;
}
function pick<T>(rng: FuzzRandom, xs: readonly T[]): T {
  return xs[randInt(rng, xs.length)]!;
}
function randomBytes(rng: FuzzRandom, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.u32() & 0xff;
  return b;
}
function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Where the IP packet starts in a frame (-1 when the frame is not IP, e.g. ARP). */
export function ipOffset(frame: Uint8Array, kind: LinkKind): number {
  if (kind === 'ip') return frame.length > 0 ? 0 : -1;
  if (frame.length < 14) return -1;
  const t = read16(frame, 12);
  return t === 0x0800 || t === 0x86dd ? 14 : -1;
}

/** The transport header: protocol and offset in the frame, or null (best effort, lenient). */
export function transportOf(frame: Uint8Array, kind: LinkKind): { proto: number; off: number; ip: number; v: 4 | 6 } | null {
  const ip = ipOffset(frame, kind);
  if (ip < 0 || frame.length < ip + 20) return null;
  const v = frame[ip]! >>> 4;
  if (v === 4) {
    const hl = (frame[ip]! & 15) * 4;
    if (hl < 20 || ip + hl > frame.length) return null;
    return { proto: frame[ip + 9]!, off: ip + hl, ip, v: 4 };
  }
  if (v === 6) {
    if (frame.length < ip + 40) return null;
    let nh = frame[ip + 6]!;
    let off = ip + 40;
    for (let n = 0; n < 8 && (nh === 0 || nh === 43 || nh === 60 || nh === 44); n++) {
      if (off + 8 > frame.length) return null;
      const next = frame[off]!;
      off += nh === 44 ? 8 : (frame[off + 1]! + 1) * 8;
      nh = next;
    }
    if (off > frame.length) return null;
    return { proto: nh, off, ip, v: 6 };
  }
  return null;
}

/** Sets the IP length fields to match the frame (IPv4 total length, IPv6 payload length). */
function fixIpLength(frame: Uint8Array, ip: number): void {
  const v = frame[ip]! >>> 4;
  const n = frame.length - ip;
  if (v === 4 && n >= 20) write16(frame, ip + 2, Math.min(n, 0xffff));
  else if (v === 6 && n >= 40) write16(frame, ip + 4, Math.min(n - 40, 0xffff));
}

/**
 * Re-computes the IPv4 header checksum and the TCP/UDP/ICMP/ICMPv6 checksum as far as the
 * (possibly lying) length fields allow. Best effort: garbage in, best-guess checksums out.
 */
export function fixChecksums(frame: Uint8Array, kind: LinkKind): void {
  const t = transportOf(frame, kind);
  if (!t) return;
  const { ip } = t;
  let end: number;
  if (t.v === 4) {
    const hl = (frame[ip]! & 15) * 4;
    write16(frame, ip + 10, 0);
    write16(frame, ip + 10, checksum(frame, ip, ip + hl));
    end = Math.min(frame.length, ip + read16(frame, ip + 2));
    // Fragments other than the first carry no transport header.
    if ((read16(frame, ip + 6) & 0x1fff) !== 0) return;
  } else {
    end = Math.min(frame.length, ip + 40 + read16(frame, ip + 4));
  }
  const off = t.off;
  const len = end - off;
  if (len < 4) return;
  const ck = t.proto === 6 ? 16 : t.proto === 17 ? 6 : t.proto === 1 || t.proto === 58 ? 2 : -1;
  if (ck < 0 || off + ck + 2 > end) return;
  let pseudo = 0;
  if (t.proto !== 1) {
    if (t.v === 4) {
      pseudo = pseudoHeaderSumV4(read32u(frame, ip + 12), read32u(frame, ip + 16), t.proto, len);
    } else {
      pseudo = pseudoHeaderSumV6(frame.subarray(ip + 8, ip + 24), frame.subarray(ip + 24, ip + 40), t.proto, len);
    }
  }
  write16(frame, off + ck, 0);
  let c = finish(sumBytes(frame, off, end, pseudo));
  if (t.proto === 17 && c === 0) c = 0xffff;
  write16(frame, off + ck, c);
}

function read32u(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

// ---- individual mutations (each returns the new frame, or null when it does not apply) -------

type Op = (rng: FuzzRandom, f: Uint8Array, kind: LinkKind, pool: readonly Uint8Array[], ops: string[]) => Uint8Array | null;

const bitFlip: Op = (rng, f, _k, _p, ops) => {
  if (f.length === 0) return null;
  const n = 1 + randInt(rng, 3);
  for (let i = 0; i < n; i++) {
    const at = randInt(rng, f.length);
    f[at]! ^= 1 << randInt(rng, 8);
    ops.push(`flip@${at}`);
  }
  return f;
};

const interesting: Op = (rng, f, kind, _p, ops) => {
  if (f.length < 2) return null;
  // Bias towards the headers, where the parsers are.
  const ip = Math.max(0, ipOffset(f, kind));
  const span = Math.min(f.length, ip + 80);
  const at = rng.float() < 0.8 ? randInt(rng, span) : randInt(rng, f.length);
  if (rng.float() < 0.5 || at + 1 >= f.length) {
    const v = pick(rng, INTERESTING8);
    f[at] = v;
    ops.push(`set8@${at}=${v}`);
  } else {
    const v = pick(rng, INTERESTING16);
    write16(f, at, v);
    ops.push(`set16@${at}=${v}`);
  }
  return f;
};

const truncate: Op = (rng, f, _k, _p, ops) => {
  if (f.length === 0) return null;
  const n = randInt(rng, f.length);
  ops.push(`truncate=${n}`);
  return f.slice(0, n);
};

const extend: Op = (rng, f, _k, _p, ops) => {
  const n = 1 + randInt(rng, rng.float() < 0.9 ? 64 : 1600);
  ops.push(`extend+${n}`);
  return concat(f, randomBytes(rng, n));
};

const lengthLie: Op = (rng, f, kind, _p, ops) => {
  const t = transportOf(f, kind);
  const ip = ipOffset(f, kind);
  if (ip < 0 || f.length < ip + 20) return null;
  const v = f[ip]! >>> 4;
  const choice = randInt(rng, 4);
  const lie = (base: number): number =>
    rng.float() < 0.5 ? pick(rng, INTERESTING16) : Math.max(0, Math.min(0xffff, base + randInt(rng, 81) - 40));
  if (choice === 0 && v === 4) {
    const ihl = randInt(rng, 16);
    f[ip] = 0x40 | ihl;
    ops.push(`ipv4.ihl=${ihl}`);
  } else if (choice <= 1) {
    const field = v === 4 ? 2 : 4;
    const val = lie(read16(f, ip + field));
    write16(f, ip + field, val);
    ops.push(`${v === 4 ? 'ipv4.total_length' : 'ipv6.payload_length'}=${val}`);
  } else if (t && t.proto === 17 && t.off + 8 <= f.length) {
    const val = lie(read16(f, t.off + 4));
    write16(f, t.off + 4, val);
    ops.push(`udp.length=${val}`);
  } else if (t && t.proto === 6 && t.off + 20 <= f.length) {
    const dof = randInt(rng, 16);
    f[t.off + 12] = (dof << 4) | (f[t.off + 12]! & 15);
    ops.push(`tcp.data_offset=${dof}`);
  } else {
    return null;
  }
  return f;
};

/** IPv4 options worth trying: well formed, malformed, duplicated. */
function ipv4OptionBytes(rng: FuzzRandom): Uint8Array {
  switch (randInt(rng, 8)) {
    case 0:
      return new Uint8Array([7, 7, 4, 0, 0, 0, 0]); // record route, room for one
    case 1:
      return new Uint8Array([68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // timestamp
    case 2:
      return new Uint8Array([148, 4, 0, 0]); // router alert
    case 3:
      return new Uint8Array([131, 3 + 4 * (1 + randInt(rng, 2)), 4, ...randomBytes(rng, 8)]).slice(0, 11); // LSRR
    case 4:
      return new Uint8Array([pick(rng, [7, 68, 131, 137, 148, 0x99]), pick(rng, [0, 1, 2, 40, 255])]); // bad length
    case 5:
      return new Uint8Array([1, 1, 1, 0]); // NOP NOP NOP EOL
    case 6:
      return randomBytes(rng, 1 + randInt(rng, 12));
    default:
      return new Uint8Array([148, 4, 0, 0, 148, 4, 0, 0]); // duplicated
  }
}

const ipv4Options: Op = (rng, f, kind, _p, ops) => {
  const ip = ipOffset(f, kind);
  if (ip < 0 || f.length < ip + 20 || f[ip]! >>> 4 !== 4) return null;
  const hl = (f[ip]! & 15) * 4;
  if (hl < 20 || ip + hl > f.length) return null;
  let opt = ipv4OptionBytes(rng);
  const room = 60 - hl;
  if (room <= 0) return null;
  if (opt.length > room) opt = opt.slice(0, room);
  const padded = new Uint8Array((opt.length + 3) & ~3);
  padded.set(opt);
  const out = concat(f.subarray(0, ip + hl), padded, f.subarray(ip + hl));
  out[ip] = 0x40 | ((hl + padded.length) >>> 2);
  if (rng.float() < 0.8) fixIpLength(out, ip);
  ops.push(`ipv4.options+${Array.from(opt, (x) => x.toString(16)).join(',')}`);
  return out;
};

function tcpOptionBytes(rng: FuzzRandom): Uint8Array {
  const r32 = (): number[] => Array.from(randomBytes(rng, 4));
  switch (randInt(rng, 10)) {
    case 0:
      return new Uint8Array([2, 4, ...randomBytes(rng, 2)]); // MSS (maybe 0)
    case 1:
      return new Uint8Array([2, 4, 0, 0]); // MSS 0
    case 2:
      return new Uint8Array([3, 3, pick(rng, [0, 14, 15, 255])]); // window scale
    case 3:
      return new Uint8Array([4, 2]); // SACK permitted
    case 4:
      return new Uint8Array([8, 10, ...r32(), ...r32()]); // timestamps
    case 5: {
      const n = 1 + randInt(rng, 4);
      const b: number[] = [5, 2 + 8 * n];
      for (let i = 0; i < n; i++) b.push(...r32(), ...r32());
      return new Uint8Array(b); // SACK blocks, garbage edges
    }
    case 6:
      return new Uint8Array([pick(rng, [2, 3, 4, 5, 8, 30, 34, 254]), pick(rng, [0, 1, 3, 9, 11, 40, 255])]); // bad lengths
    case 7:
      return new Uint8Array([5, 10, ...r32(), ...r32(), 5, 10, ...r32(), ...r32()]); // duplicated SACK
    case 8:
      return new Uint8Array([0, ...randomBytes(rng, 3)]); // EOL, then junk
    default:
      return randomBytes(rng, 1 + randInt(rng, 20));
  }
}

const tcpOptions: Op = (rng, f, kind, _p, ops) => {
  const t = transportOf(f, kind);
  if (!t || t.proto !== 6 || t.off + 20 > f.length) return null;
  if (t.v === 4 && (read16(f, t.ip + 6) & 0x1fff) !== 0) return null;
  const hl = (f[t.off + 12]! >>> 4) * 4;
  if (hl < 20 || t.off + hl > f.length) return null;
  const room = 60 - hl;
  if (room <= 0) return null;
  let opt = tcpOptionBytes(rng);
  if (opt.length > room) opt = opt.slice(0, room);
  const padded = new Uint8Array((opt.length + 3) & ~3).fill(1); // NOP padding at the end
  padded.set(opt);
  // Before the existing options or after them.
  const at = rng.float() < 0.5 ? t.off + 20 : t.off + hl;
  const out = concat(f.subarray(0, at), padded, f.subarray(at));
  out[t.off + 12] = (((hl + padded.length) >>> 2) << 4) | (out[t.off + 12]! & 15);
  fixIpLength(out, t.ip);
  ops.push(`tcp.options+${Array.from(opt, (x) => x.toString(16)).join(',')}`);
  return out;
};

const ipv6ExtHeader: Op = (rng, f, kind, _p, ops) => {
  const ip = ipOffset(f, kind);
  if (ip < 0 || f.length < ip + 40 || f[ip]! >>> 4 !== 6) return null;
  const nh = f[ip + 6]!;
  let h: Uint8Array;
  let type: number;
  switch (randInt(rng, 6)) {
    case 0: // Hop-by-Hop with an unknown option (random action bits) or a router alert
      type = 0;
      h = new Uint8Array([nh, 0, ...(rng.float() < 0.5 ? [5, 2, 0, 0] : [rng.u32() & 0xff, 2, 0, 0]), 1, 0]);
      break;
    case 1: // Destination options, PadN of random length (maybe overrunning)
      type = 60;
      h = new Uint8Array([nh, 0, 1, pick(rng, [0, 4, 5, 200]), 0, 0, 0, 0]);
      break;
    case 2: // Routing, segments left random
      type = 43;
      h = new Uint8Array([nh, 0, randInt(rng, 5), randInt(rng, 3), 0, 0, 0, 0]);
      break;
    case 3: // Atomic fragment
      type = 44;
      h = new Uint8Array([nh, 0, 0, 0, ...randomBytes(rng, 4)]);
      break;
    case 4: // Non-atomic fragment with random offset / M
      type = 44;
      h = new Uint8Array([nh, 0, ...randomBytes(rng, 2), ...randomBytes(rng, 4)]);
      break;
    default: // A chain of destination options (too many headers)
      type = 60;
      h = new Uint8Array(8 * 20);
      for (let i = 0; i < 20; i++) {
        h[i * 8] = i === 19 ? nh : 60;
        h[i * 8 + 2] = 1;
        h[i * 8 + 3] = 4;
      }
  }
  const out = concat(f.subarray(0, ip + 40), h, f.subarray(ip + 40));
  out[ip + 6] = type;
  fixIpLength(out, ip);
  ops.push(`ipv6.ext+${type}/${h.length}`);
  return out;
};

const splice: Op = (rng, f, _k, pool, ops) => {
  if (pool.length === 0 || f.length === 0) return null;
  const g = pick(rng, pool);
  const at = randInt(rng, f.length);
  const n = Math.min(1 + randInt(rng, 32), f.length - at, Math.max(0, g.length - at));
  if (n <= 0) return null;
  f.set(g.subarray(at, at + n), at);
  ops.push(`splice@${at}+${n}`);
  return f;
};

const fragmentFields: Op = (rng, f, kind, _p, ops) => {
  const ip = ipOffset(f, kind);
  if (ip < 0 || f.length < ip + 20) return null;
  if (f[ip]! >>> 4 === 4) {
    const r = randInt(rng, 3);
    if (r === 0) write16(f, ip + 4, rng.u32() & 0xffff);
    else if (r === 1) write16(f, ip + 6, (read16(f, ip + 6) & 0xe000) | (rng.u32() & 0x1fff));
    else f[ip + 6] = f[ip + 6]! ^ 0x20; // toggle MF
    ops.push(`ipv4.frag.${['id', 'offset', 'mf'][r]}`);
    return f;
  }
  // IPv6: find a fragment header right after the fixed header.
  if (f[ip + 6] === 44 && f.length >= ip + 48) {
    const r = randInt(rng, 3);
    if (r === 0) f.set(randomBytes(rng, 4), ip + 44);
    else if (r === 1) write16(f, ip + 42, rng.u32() & 0xffff);
    else f[ip + 43] = f[ip + 43]! ^ 1;
    ops.push(`ipv6.frag.${['id', 'offset', 'm'][r]}`);
    return f;
  }
  return null;
};

const OPS: Array<[Op, number, string]> = [
  [bitFlip, 3, 'bitflip'],
  [interesting, 4, 'interesting'],
  [truncate, 2, 'truncate'],
  [extend, 1, 'extend'],
  [lengthLie, 4, 'length'],
  [ipv4Options, 2, 'ipv4opts'],
  [tcpOptions, 3, 'tcpopts'],
  [ipv6ExtHeader, 2, 'ipv6ext'],
  [splice, 2, 'splice'],
  [fragmentFields, 2, 'frag'],
];
const TOTAL_WEIGHT = OPS.reduce((s, o) => s + o[1], 0);

/** Splits a (valid) IPv4 packet into unmutated fragments, sometimes overlapping or in reverse order. */
function fragmentIpv4(rng: FuzzRandom, f: Uint8Array, kind: LinkKind, ops: string[]): Uint8Array[] | null {
  const ip = ipOffset(f, kind);
  if (ip < 0 || f.length < ip + 28 || f[ip]! >>> 4 !== 4) return null;
  const hl = (f[ip]! & 15) * 4;
  const total = read16(f, ip + 2);
  if (hl < 20 || total > f.length - ip || total < hl + 16) return null;
  if ((read16(f, ip + 6) & 0x3fff) !== 0) return null; // already a fragment
  const data = f.subarray(ip + hl, ip + total);
  const unit = 8 * (1 + randInt(rng, Math.max(1, Math.floor(data.length / 16))));
  const pieces: Array<[number, number]> = [];
  for (let o = 0; o < data.length; o += unit) pieces.push([o, Math.min(data.length, o + unit)]);
  if (rng.float() < 0.3 && pieces.length > 1) {
    // An overlapping extra piece with the same bytes.
    const i = randInt(rng, pieces.length - 1);
    pieces.push([pieces[i]![0], pieces[i + 1]![1]]);
  }
  if (rng.float() < 0.5) pieces.reverse();
  const ident = 0x8000 | (rng.u32() & 0x7fff);
  const frames = pieces.map(([s, e]) => {
    const out = new Uint8Array(ip + hl + (e - s));
    out.set(f.subarray(0, ip + hl));
    out.set(data.subarray(s, e), ip + hl);
    write16(out, ip + 2, hl + (e - s));
    write16(out, ip + 4, ident);
    write16(out, ip + 6, (e < data.length ? 0x2000 : 0) | (s >>> 3));
    write16(out, ip + 10, 0);
    write16(out, ip + 10, checksum(out, ip, ip + hl));
    return out;
  });
  ops.push(`ipv4.fragment/${unit}x${frames.length}`);
  return frames;
}

/**
 * Splits an IPv6 packet into (unmutated) fragments: a Fragment header right after the fixed
 * header, the rest as the fragmentable part; sometimes an overlapping extra piece (RFC 5722:
 * the receiver must then drop the whole datagram) or reverse order.
 */
function fragmentIpv6(rng: FuzzRandom, f: Uint8Array, kind: LinkKind, ops: string[]): Uint8Array[] | null {
  const ip = ipOffset(f, kind);
  if (ip < 0 || f.length < ip + 48 || f[ip]! >>> 4 !== 6 || f[ip + 6] === 44) return null;
  const plen = read16(f, ip + 4);
  if (ip + 40 + plen > f.length || plen < 16) return null;
  const data = f.subarray(ip + 40, ip + 40 + plen);
  const unit = 8 * (1 + randInt(rng, Math.max(1, Math.floor(data.length / 16))));
  const pieces: Array<[number, number]> = [];
  for (let o = 0; o < data.length; o += unit) pieces.push([o, Math.min(data.length, o + unit)]);
  if (rng.float() < 0.2 && pieces.length > 1) {
    const i = randInt(rng, pieces.length - 1);
    pieces.push([pieces[i]![0], pieces[i + 1]![1]]);
  }
  if (rng.float() < 0.5) pieces.reverse();
  const ident = rng.u32();
  const nh = f[ip + 6]!;
  const frames = pieces.map(([s, e]) => {
    const out = new Uint8Array(ip + 48 + (e - s));
    out.set(f.subarray(0, ip + 40));
    out[ip + 6] = 44;
    write16(out, ip + 4, 8 + (e - s));
    out[ip + 40] = nh;
    write16(out, ip + 42, s | (e < data.length ? 1 : 0));
    out[ip + 44] = ident >>> 24;
    out[ip + 45] = (ident >>> 16) & 0xff;
    out[ip + 46] = (ident >>> 8) & 0xff;
    out[ip + 47] = ident & 0xff;
    out.set(data.subarray(s, e), ip + 48);
    return out;
  });
  ops.push(`ipv6.fragment/${unit}x${frames.length}`);
  return frames;
}

/**
 * One to three mutations of a copy of `frame` (the original is not changed); with probability
 * 1/2 the checksums are re-computed afterwards (`fix_checksums`). With probability 6/100 a valid
 * IPv4 or IPv6 packet is instead split into (unmutated) fragments.
 */
export function mutateFrame(rng: FuzzRandom, frame: Uint8Array, kind: LinkKind, pool: readonly Uint8Array[]): Mutated {
  const ops: string[] = [];
  if (rng.float() < 0.06) {
    const frags = fragmentIpv4(rng, frame, kind, ops) ?? fragmentIpv6(rng, frame, kind, ops);
    if (frags) return { frames: frags, ops };
  }
  let f: Uint8Array = frame.slice();
  const n = 1 + randInt(rng, 3);
  for (let i = 0; i < n; i++) {
    let w = randInt(rng, TOTAL_WEIGHT);
    let op = OPS[0]!;
    for (const o of OPS) {
      if (w < o[1]) {
        op = o;
        break;
      }
      w -= o[1];
    }
    const r = op[0](rng, f, kind, pool, ops);
    if (r) f = r;
  }
  if (ops.length === 0) bitFlip(rng, f, kind, pool, ops);
  if (rng.float() < 0.5) {
    fixChecksums(f, kind);
    ops.push('fix_checksums');
  }
  return { frames: [f], ops };
}

/** Hex encoding for reports and regression files. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

/**
 * An ICMP (IPv4) or ICMPv6 error quoting `frame`'s IP packet, as if a router or the peer sent it
 * back to the frame's sender: destination unreachable (every code, "fragmentation needed" with
 * odd next-hop MTUs), packet too big (MTUs below and above the minimum), time exceeded,
 * parameter problem. Valid checksums, Ethernet addresses swapped. Null when `frame` is not IP.
 */
export function synthesizeIcmpError(rng: FuzzRandom, frame: Uint8Array, kind: LinkKind): Mutated | null {
  const ip = ipOffset(frame, kind);
  if (ip < 0 || frame.length < ip + 40) return null;
  const v = frame[ip]! >>> 4;
  const pkt = frame.subarray(ip);
  const ops: string[] = [];
  let msg: Uint8Array;
  let outer: Uint8Array;
  if (v === 4) {
    const quoted = pkt.subarray(0, Math.min(pkt.length, 548 - randInt(rng, 2) * 520));
    msg = new Uint8Array(8 + quoted.length);
    const type = pick(rng, [3, 3, 3, 11, 12]);
    const code = type === 3 ? (rng.float() < 0.5 ? 4 : randInt(rng, 16)) : randInt(rng, 3);
    msg[0] = type;
    msg[1] = code;
    if (type === 3 && code === 4) write16(msg, 6, pick(rng, [0, 1, 68, 296, 508, 576, 1000, 1400, 1492, 1500, 9000, 65535]));
    if (type === 12) msg[4] = randInt(rng, 60);
    msg.set(quoted, 8);
    write16(msg, 2, checksum(msg));
    outer = new Uint8Array(20 + msg.length);
    outer[0] = 0x45;
    write16(outer, 2, outer.length);
    outer[8] = 64;
    outer[9] = 1;
    outer.set(pkt.subarray(16, 20), 12); // from the quoted packet's destination (or a router)
    outer.set(pkt.subarray(12, 16), 16); // to its source
    if (rng.float() < 0.3) outer[15] = 254; // from a "router" on the subnet
    outer.set(msg, 20);
    write16(outer, 10, checksum(outer, 0, 20));
    ops.push(`icmp4.error/${type}/${code}`);
  } else if (v === 6) {
    const quoted = pkt.subarray(0, Math.min(pkt.length, 1232 - randInt(rng, 2) * 1100));
    msg = new Uint8Array(8 + quoted.length);
    const type = pick(rng, [1, 2, 2, 3, 4]);
    const code = type === 1 ? randInt(rng, 8) : type === 4 ? randInt(rng, 4) : type === 3 ? randInt(rng, 2) : 0;
    msg[0] = type;
    msg[1] = code;
    if (type === 2) {
      const mtu = pick(rng, [0, 68, 1000, 1279, 1280, 1400, 1500, 65535, 0xffffffff]);
      msg[4] = mtu >>> 24;
      msg[5] = (mtu >>> 16) & 0xff;
      write16(msg, 6, mtu & 0xffff);
    }
    if (type === 4) write16(msg, 6, randInt(rng, 80));
    msg.set(quoted, 8);
    outer = new Uint8Array(40 + msg.length);
    outer[0] = 0x60;
    write16(outer, 4, msg.length);
    outer[6] = 58;
    outer[7] = 64;
    outer.set(pkt.subarray(24, 40), 8);
    outer.set(pkt.subarray(8, 24), 24);
    if (rng.float() < 0.3) outer[23] = 0xfe;
    outer.set(msg, 40);
    const ps = pseudoHeaderSumV6(outer.subarray(8, 24), outer.subarray(24, 40), 58, msg.length);
    write16(outer, 42, finish(sumBytes(outer, 40, outer.length, ps)));
    ops.push(`icmp6.error/${type}/${code}`);
  } else {
    return null;
  }
  if (kind === 'ethernet') {
    const f = new Uint8Array(14 + outer.length);
    f.set(frame.subarray(6, 12), 0);
    f.set(frame.subarray(0, 6), 6);
    f.set(frame.subarray(12, 14), 12);
    f.set(outer, 14);
    return { frames: [f], ops };
  }
  return { frames: [outer], ops };
}
