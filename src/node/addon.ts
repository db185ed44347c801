/**
 * Loader and type declarations for the native addon (`native/*.cc`, built by `npm run
 * build:native` into build/Release/netstack_native.node).
 *
 * The addon is loaded lazily, on first use, so that code which never opens a device (unit
 * tests, simulations) does not need it built.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

/** One queue fd of a TUN/TAP device (a device has several with IFF_MULTI_QUEUE). */
export interface NativeTunQueue {
  readonly fd: number;
  /**
   * Starts polling. On readiness the addon reads packets into the slots of `rxBuffer` (slot i
   * at byte i * slotSize), writes their lengths into `lengths`, and calls `onBatch(count)` once
   * per batch. A read error (e.g. the device was deleted) stops polling and calls `onError`.
   * While polling, the queue keeps the event loop alive.
   */
  startReading(
    rxBuffer: ArrayBuffer,
    slotSize: number,
    slotCount: number,
    lengths: Uint32Array,
    onBatch: (count: number) => void,
    onError: (err: NodeJS.ErrnoException) => void,
  ): void;
  pause(): void;
  resume(): void;
  /** Registers the transmit buffer and its table of (offset, length) pairs for writeBatch. */
  setupTx(txBuffer: ArrayBuffer, table: Uint32Array): void;
  /** Writes table entries 0..count-1, one write() each; returns how many were written. */
  writeBatch(count: number): number;
  /**
   * Starts the writer thread: the table and the buffer become `regions` parts of
   * `entriesPerRegion` entries (offsets still into the whole buffer); `status` receives
   * [written, dropped, errors, last errno] (32-bit, wrapping) as the thread goes.
   */
  startTxThread(regions: number, entriesPerRegion: number, status: Uint32Array): void;
  /** Hands region's first `count` entries to the writer thread (the region must be acquired). */
  submit(region: number, count: number): void;
  /** Waits until the writer thread is done with `region`. */
  acquire(region: number): void;
  /** Waits until everything submitted is written. */
  drain(): void;
  /** Writes one frame; false if it was dropped (counted in txCounters). */
  write(frame: Uint8Array): boolean;
  /** [dropped for lack of room (EAGAIN/ENOBUFS), other write errors, errno of the last failure]. */
  txCounters(): [number, number, number];
  /** TUNSETOFFLOAD (flags from TUN_F). */
  setOffload(flags: number): void;
  /** TUNSETPERSIST. */
  setPersist(on: boolean): void;
  /**
   * TUNSETQUEUE (multi-queue devices): a disabled queue receives no packet but its open fd
   * keeps the device alive; enabling it again puts it back into the kernel's steering.
   */
  setQueueEnabled(on: boolean): void;
  /** Stops polling, resets offloads to 0 if asked, closes the fd. Idempotent. */
  close(resetOffloads?: boolean): void;
}

export interface NativeOpenOptions {
  name?: string;
  tap?: boolean;
  persist?: boolean;
  exclusive?: boolean;
  attach?: boolean;
  queues?: number;
  multiQueue?: boolean;
  vnetHdr?: boolean;
  vnetHdrSize?: 10 | 12;
  offloads?: number;
  mtu?: number;
  netns?: string;
}

export interface NativeDevice {
  name: string;
  ifindex: number;
  mtu: number;
  /** The kernel side's MAC address (TAP); null for TUN. */
  mac: Uint8Array | null;
  /** The IFF_* flags given to TUNSETIFF. */
  flags: number;
  queues: NativeTunQueue[];
}

export interface NativeLinkInfo {
  ifindex: number;
  name: string;
  mtu: number;
  /** IFF_* flags (IFF_UP = 1, IFF_RUNNING = 0x40, ...). */
  flags: number;
  mac: Uint8Array | null;
  /** IFLA_INFO_KIND: 'tun' for TUN/TAP devices, 'veth', ... or '' */
  kind: string;
}

export interface NativeAddon {
  open(options: NativeOpenOptions): NativeDevice;
  linkInfo(name: string, netns?: string): NativeLinkInfo | null;
  setLink(name: string, change: { up?: boolean; mtu?: number; mac?: Uint8Array }, netns?: string): void;
  addAddress(name: string, family: 4 | 6, address: Uint8Array, prefixLength: number, netns?: string): void;
  deleteLink(name: string, netns?: string): void;
  readonly TUN_F: {
    readonly CSUM: number;
    readonly TSO4: number;
    readonly TSO6: number;
    readonly TSO_ECN: number;
    readonly USO4: number;
    readonly USO6: number;
  };
}

let cached: NativeAddon | undefined;

/** Where the addon is looked for: $NETSTACK_NATIVE, then build/Release under the package root. */
export function nativeAddonCandidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const out: string[] = [];
  if (process.env.NETSTACK_NATIVE) out.push(resolve(process.env.NETSTACK_NATIVE));
  // Compiled: dist/src/node/addon.js; from source (a TypeScript loader): src/node/addon.ts.
  for (const up of ['../../..', '../..']) out.push(join(here, up, 'build/Release/netstack_native.node'));
  return out;
}

/** Loads the addon once; throws a friendly error with code 'ENATIVE' if it is not built. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    throw Object.assign(new Error(`netstack needs Linux for TUN/TAP devices (this is ${process.platform})`), {
      code: 'ENOTSUP',
    });
  }
  const candidates = nativeAddonCandidates();
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    throw Object.assign(
      new Error(
        `the native addon is not built (looked in ${candidates.join(', ')}). Build it with \`npm run build:native\` ` +
          '(needs a C++17 compiler, make and python3)',
      ),
      { code: 'ENATIVE' },
    );
  }
  const require = createRequire(import.meta.url);
  cached = require(path) as NativeAddon;
  return cached;
}
