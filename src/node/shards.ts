/**
 * Stack shards over a multi-queue TUN device: one Stack per `worker_threads` Worker, each
 * owning one queue of an IFF_MULTI_QUEUE device, so that flows are processed on as many cores
 * as there are shards.
 *
 * How flows reach a shard (Linux drivers/net/tun.c): with no steering eBPF program, the tun
 * driver's ndo_select_queue (tun_automq_select_queue) takes the symmetric flow hash of the
 * packet (__skb_get_hash_symmetric: addresses, protocol and ports, the same both ways) and
 * looks it up in a per-device flow table; a miss picks queue `reciprocal_scale(hash,
 * numqueues)`. The table learns in tun_get_user: a packet user space writes through a queue
 * records that queue for its flow's hash (when the device has more than one queue). A shard
 * only ever writes the packets of its own connections through its own queue, so a flow the
 * kernel opened lands on the shard the hash picked, and the shard's replies pin it there.
 * Every shard has the same addresses and services, so whichever shard a new flow lands on can
 * serve it. The hash ignores IPv6 flow labels (the symmetric dissector runs without
 * FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL), so IPv6 flows spread like IPv4 ones. Every fragment of
 * a datagram, the first included, hashes on addresses and protocol only (no
 * FLOW_DISSECTOR_F_PARSE_1ST_FRAG), so a fragmented datagram reaches one shard whole.
 *
 * Limits of steering by the kernel's hash:
 * - Connections a shard opens itself are not steered back to it by a hash the kernel chose:
 *   they work only once the shard's first packet taught the flow table (a SYN does), and the
 *   table forgets a flow after 3 s idle (TUN_FLOW_EXPIRE), after which replies follow the hash.
 *   The sharded host opens no connections; `download`/`upload` are not sharded.
 * - ARP and NDP replies reach one shard only, so TAP devices (which need them) are not sharded.
 *
 * Lifetime of the device: the main thread opens one queue first (creating the device, so the
 * kernel side can be configured) and then disables it with TUNSETQUEUE/IFF_DETACH_QUEUE: a
 * disabled queue is no longer counted in numqueues, so no packet is steered to it, but its
 * open fd keeps a non-persistent device alive while workers attach and detach. When the
 * process ends, even killed, the kernel closes every fd and the device disappears.
 *
 * The native addon is context-aware (N-API, per-environment instance data, cleanup hooks per
 * environment), so each worker loads it for itself, and each queue's uv_poll runs on the loop
 * of the worker that opened it.
 */
import { Worker, parentPort, type MessagePort } from 'node:worker_threads';
import { loadNative, type NativeTunQueue } from './addon.js';
import { TunLink } from './tun.js';

/** What a shard reports: counters of its stack and link (flattened to numbers). */
export interface ShardStats {
  stack: Record<string, number>;
  link: Record<string, number>;
  /** Other sections by title, e.g. the impairment's counters. */
  extra?: Record<string, Record<string, number>>;
}

/** The main thread's queue of the device: keeps it alive while receiving nothing. */
export interface DeviceAnchor {
  readonly name: string;
  readonly ifindex: number;
  readonly mtu: number;
  /** Disables the anchor's queue (TUNSETQUEUE, IFF_DETACH_QUEUE); from then on only shard queues receive. */
  disable(): void;
  /** Closes the fd: the device goes away with it unless it is persistent or a shard still holds a queue. */
  close(): void;
}

export interface AnchorOptions {
  /** Device name (an existing multi-queue TUN device is attached to). */
  name: string;
  mtu?: number;
  netns?: string;
}

/** Opens (creating if needed) a multi-queue TUN device with one queue, for the main thread. */
export function openDeviceAnchor(options: AnchorOptions): DeviceAnchor {
  const dev = loadNative().open({ name: options.name, queues: 1, multiQueue: true, mtu: options.mtu, netns: options.netns });
  const queue: NativeTunQueue = dev.queues[0]!;
  let disabled = false;
  return {
    name: dev.name,
    ifindex: dev.ifindex,
    mtu: dev.mtu,
    disable() {
      if (disabled) return;
      queue.setQueueEnabled(false);
      disabled = true;
    },
    close() {
      queue.close(false);
    },
  };
}

export interface ShardQueueOptions {
  /** The multi-queue TUN device, which must exist. */
  name: string;
  netns?: string;
  /** Packets read per batch (default 64). */
  rxBatch?: number;
}

/**
 * Attaches one more queue to an existing multi-queue TUN device (TUNSETIFF with
 * IFF_MULTI_QUEUE on its name) and returns it as a `TunLink`. Call it on the thread that will
 * read the queue: its uv_poll is armed on that thread's event loop. The queue's fd is closed
 * when the link is closed or the thread's environment ends.
 */
export function openShardQueue(options: ShardQueueOptions): TunLink {
  const dev = loadNative().open({ name: options.name, attach: true, queues: 1, multiQueue: true, netns: options.netns });
  return new TunLink(dev, { name: options.name, netns: options.netns }, options.rxBatch ?? 64, 0);
}

// ---- the protocol between the main thread and a shard ----------------------------------------

/** Main thread → shard. */
export type ToShard = { type: 'stats'; id: number } | { type: 'stop' };

/** Shard → main thread. */
export type FromShard =
  | { type: 'ready'; fields: string[] }
  | { type: 'failed'; message: string; code?: string }
  | { type: 'fatal'; message: string }
  | { type: 'stats'; id: number; stats: ShardStats }
  | { type: 'stopped'; stats: ShardStats };

/** What a shard's module gives `serveShard`. */
export interface ShardHandlers {
  stats(): ShardStats;
  /** Closes services, stack and queue; returns the final counters. */
  stop(): Promise<ShardStats>;
}

/** The worker side of the protocol: call from the shard's module once it runs. */
export interface ShardChannel {
  /** The shard serves; `fields` go into the ready line (the first shard's). */
  ready(fields: string[], handlers: ShardHandlers): void;
  /** Setting up failed; the shard's thread should end. */
  failed(err: unknown): void;
  /** A running shard cannot go on (e.g. reading its queue failed). */
  fatal(message: string): void;
}

export function shardChannel(): ShardChannel {
  const port: MessagePort | null = parentPort;
  if (port === null) throw new Error('a shard runs in a worker thread');
  const post = (m: FromShard): void => port.postMessage(m);
  return {
    ready(fields, handlers) {
      let stopping = false;
      port.on('message', (m: ToShard) => {
        if (m.type === 'stats') {
          post({ type: 'stats', id: m.id, stats: handlers.stats() });
        } else if (m.type === 'stop' && !stopping) {
          stopping = true;
          handlers.stop().then(
            (stats) => {
              post({ type: 'stopped', stats });
              port.close();
            },
            (e: unknown) => post({ type: 'fatal', message: `stopping failed: ${(e as Error).message}` }),
          );
        }
      });
      post({ type: 'ready', fields });
    },
    failed(err) {
      const e = err as Error & { code?: string };
      post({ type: 'failed', message: e?.message ?? String(err), code: e?.code });
    },
    fatal(message) {
      post({ type: 'fatal', message });
    },
  };
}

// ---- the main thread's side -------------------------------------------------------------------

export interface ShardPoolOptions {
  /** Number of shards (worker threads). */
  count: number;
  /** The shard module (it calls shardChannel()). */
  module: URL;
  /** workerData for shard `index`. */
  data: (index: number) => unknown;
  /** Give up starting after this long (default 20 s). */
  readyTimeoutMs?: number;
}

interface Shard {
  readonly index: number;
  readonly worker: Worker;
  fields: string[];
  exited: boolean;
  final: ShardStats | undefined;
}

/** Shards running on worker threads. */
export class ShardPool {
  /** Called once when a shard fails while running (fatal message, uncaught error or early exit). */
  onFatal: (index: number, message: string) => void = () => undefined;

  private readonly shards: Shard[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, { got: Array<ShardStats | undefined>; pending: Set<number>; done: () => void }>();
  private stopping = false;
  private failedOnce = false;

  private constructor() {}

  /**
   * Starts `count` workers and resolves once every one reported ready. If any fails (or the
   * timeout passes), all are terminated and the promise rejects with the first shard's error.
   */
  static async start(options: ShardPoolOptions): Promise<ShardPool> {
    const pool = new ShardPool();
    const limit = options.readyTimeoutMs ?? 20_000;
    const readies: Array<Promise<void>> = [];
    for (let index = 0; index < options.count; index++) {
      const worker = new Worker(options.module, { workerData: options.data(index) });
      const shard: Shard = { index, worker, fields: [], exited: false, final: undefined };
      pool.shards.push(shard);
      readies.push(
        new Promise<void>((resolve, reject) => {
          let ready = false;
          worker.on('message', (m: FromShard) => {
            if (m.type === 'ready') {
              ready = true;
              shard.fields = m.fields;
              resolve();
            } else if (m.type === 'failed') {
              reject(Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
            } else {
              pool.onMessage(shard, m);
            }
          });
          worker.on('error', (e: Error) => {
            if (!ready) reject(e);
            else pool.fail(shard, `uncaught error: ${e.message}`);
          });
          worker.on('exit', (code) => {
            shard.exited = true;
            pool.answerMissing(shard);
            if (!ready) reject(new Error(`shard ${index} exited (code ${code}) before it was ready`));
            else if (!pool.stopping) pool.fail(shard, `exited unexpectedly (code ${code})`);
          });
        }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the shards were not ready within ${limit} ms`)), limit);
    });
    try {
      await Promise.race([Promise.all(readies), timeout]);
    } catch (e) {
      pool.stopping = true;
      await Promise.all(pool.shards.map((s) => s.worker.terminate().catch(() => undefined)));
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return pool;
  }

  get count(): number {
    return this.shards.length;
  }

  /** The ready fields each shard reported. */
  fields(index: number): string[] {
    return this.shards[index]!.fields;
  }

  /** Every shard's counters (undefined for a shard that did not answer within `timeoutMs`). */
  stats(timeoutMs = 2000): Promise<Array<ShardStats | undefined>> {
    const id = this.nextId++;
    const got = new Array<ShardStats | undefined>(this.shards.length).fill(undefined);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.waiting.delete(id);
        resolve(got);
      };
      const live = this.shards.filter((s) => !s.exited);
      if (live.length === 0) {
        resolve(got);
        return;
      }
      this.waiting.set(id, { got, pending: new Set(live.map((s) => s.index)), done });
      timer = setTimeout(done, timeoutMs);
      for (const s of live) s.worker.postMessage({ type: 'stats', id } satisfies ToShard);
    });
  }

  /**
   * Asks every shard to stop (close its services, stack and queue) and waits for it, at most
   * `timeoutMs`; then terminates the threads. Returns each shard's final counters.
   */
  async stop(timeoutMs = 4000): Promise<Array<ShardStats | undefined>> {
    this.stopping = true;
    const exits = this.shards.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.exited) return resolve();
          s.worker.once('exit', () => resolve());
        }),
    );
    const stoppedAll = Promise.all(
      this.shards.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.exited) return resolve();
            const onMessage = (m: FromShard): void => {
              if (m.type === 'stopped') {
                s.final = m.stats;
                s.worker.off('message', onMessage);
                resolve();
              }
            };
            s.worker.on('message', onMessage);
            s.worker.once('exit', () => resolve());
            s.worker.postMessage({ type: 'stop' } satisfies ToShard);
          }),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stoppedAll, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    // A stopped shard has closed its queue; its thread may still hold idle handles (HTTP
    // keep-alive timers and the like), so end it rather than wait.
    await Promise.all(this.shards.map((s) => (s.exited ? undefined : s.worker.terminate().catch(() => undefined))));
    await Promise.all(exits);
    return this.shards.map((s) => s.final);
  }

  private onMessage(shard: Shard, m: FromShard): void {
    if (m.type === 'stats') {
      const w = this.waiting.get(m.id);
      if (w === undefined || !w.pending.delete(shard.index)) return;
      w.got[shard.index] = m.stats;
      if (w.pending.size === 0) w.done();
    } else if (m.type === 'fatal') {
      this.fail(shard, m.message);
    }
  }

  /** A shard that exited no longer answers: pending stats requests stop waiting for it. */
  private answerMissing(shard: Shard): void {
    for (const w of [...this.waiting.values()]) {
      if (w.pending.delete(shard.index) && w.pending.size === 0) w.done();
    }
  }

  private fail(shard: Shard, message: string): void {
    if (this.stopping || this.failedOnce) return;
    this.failedOnce = true;
    this.onFatal(shard.index, message);
  }
}

/** Sums counter records key by key (keys missing in some records count as 0), sorted by key. */
export function sumCounters(records: Array<Record<string, number> | undefined>): Record<string, number> {
  const sum = new Map<string, number>();
  for (const r of records) {
    if (r === undefined) continue;
    for (const [k, v] of Object.entries(r)) if (typeof v === 'number') sum.set(k, (sum.get(k) ?? 0) + v);
  }
  const out: Record<string, number> = {};
  for (const k of [...sum.keys()].sort()) out[k] = sum.get(k)!;
  return out;
}
