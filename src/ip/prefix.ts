/**
 * Small IP-layer helpers on the core address representations (IPv4 as an unsigned 32-bit
 * number, IPv6 as 16 bytes) that src/wire/address.ts does not provide: map keys, scope tests
 * and the common-prefix length for source selection. Everything else (masks, prefix tests,
 * solicited-node groups, multicast MACs) comes from src/wire/address.ts.
 */
import { ipv6MulticastScope, isIpv6LinkLocal, isIpv6Multicast } from '../wire/address.js';

/** A stable map key for a 16-byte address. */
export function v6Key(a: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += (a[i]! < 16 ? '0' : '') + a[i]!.toString(16);
  return s;
}

/**
 * Needs a zone (interface) to route: link-local unicast, or multicast of interface-local (1) or
 * link-local (2) scope (RFC 4007 §6).
 */
export function v6NeedsScope(a: Uint8Array): boolean {
  if (isIpv6LinkLocal(a)) return true;
  if (!isIpv6Multicast(a)) return false;
  const s = ipv6MulticastScope(a);
  return s === 1 || s === 2;
}

/** Number of leading bits `a` and `b` share (RFC 6724 rule 8, longest matching prefix). */
export function v6CommonPrefixLen(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < 16; i++) {
    const x = a[i]! ^ b[i]!;
    if (x === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(x) - 24;
  }
  return n;
}
