#!/usr/bin/env node
/**
 * Deterministic TCP simulations outside `npm test` (run `npm run build` first; uses dist/).
 *
 *   node scripts/sim.mjs --seed 7 --loss 0.03 --mtu 1280 ... [--verbose]
 *       one case (flags as printed by a failing test), with its result; --verbose also prints
 *       every network event (time, direction, send/deliver/drop, decoded TCP header).
 *   node scripts/sim.mjs --count 5000 [--start 1] [--max-bytes N] [--jobs J] [--slowest K]
 *       random cases for seeds start..start+count-1 (settings derived from each seed, as in
 *       the unit test), in J worker threads; prints each failure's replay command, and exits 1
 *       if any failed. --slowest K also lists the K cases slowest relative to a simple model
 *       (estimateMs in src/sim/tcp-case.ts): where to look for performance problems.
 *   node scripts/sim.mjs --matrix
 *       the throughput matrix (loss x receive buffer), compared with test/sim/throughput-matrix.json.
 *
 * Flags of one case: --seed --bytes --mode upload|echo --kind ip|ethernet --family 4|6 --mtu
 * --delay (ms, one way) --bandwidth (bit/s) --queue (frames, 0 = unlimited) --loss --reorder
 * --duplicate --corrupt (probabilities) --rcvbuf --sndbuf (bytes, 0 = default)
 * --cc default|cubic|newreno --pause (ms the server stops reading after each 128 KiB)
 * --outage (ms both directions lose everything, once the server has a third of the data)
 * --max-time (ms of virtual time, 0 = computed).
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist', 'src', 'sim');
if (!existsSync(join(dist, 'tcp-case.js'))) {
  console.error("dist/src/sim is missing: run 'npm run build' first");
  process.exit(2);
}
const tc = await import(pathToFileURL(join(dist, 'tcp-case.js')).href);

function usage(msg) {
  if (msg) console.error(msg);
  console.error('usage: node scripts/sim.mjs [--seed S ...flags] [--verbose] | --count N [--start S] [--max-bytes N] [--jobs J] [--slowest K] | --matrix');
  process.exit(2);
}

/** One line per network event, with the TCP header decoded when there is one. */
function describeFrame(kind, f) {
  let off = 0;
  if (kind === 'ethernet') {
    const et = (f[12] << 8) | f[13];
    if (et === 0x0806) return 'ARP';
    off = 14;
  }
  const v = f[off] >> 4;
  let proto;
  let l4;
  let l4len;
  let fragInfo = '';
  if (v === 4) {
    const ihl = (f[off] & 15) * 4;
    const total = (f[off + 2] << 8) | f[off + 3];
    proto = f[off + 9];
    const fo = ((f[off + 6] << 8) | f[off + 7]) & 0x3fff;
    if (fo !== 0) fragInfo = ` frag(off=${(fo & 0x1fff) * 8}${fo & 0x2000 ? ',MF' : ''})`;
    l4 = off + ihl;
    l4len = total - ihl;
    if ((fo & 0x1fff) !== 0) return `IPv4 proto ${proto}${fragInfo} len ${total}`;
  } else if (v === 6) {
    proto = f[off + 6];
    l4 = off + 40;
    l4len = (f[off + 4] << 8) | f[off + 5];
  } else return `? ${f.length} bytes`;
  if (proto !== 6) return `IPv${v} proto ${proto}${fragInfo} len ${l4len}`;
  const u32 = (i) => ((f[i] << 24) | (f[i + 1] << 16) | (f[i + 2] << 8) | f[i + 3]) >>> 0;
  const sport = (f[l4] << 8) | f[l4 + 1];
  const dport = (f[l4 + 2] << 8) | f[l4 + 3];
  const doff = (f[l4 + 12] >> 4) * 4;
  const fl = f[l4 + 13];
  const flags = ['F', 'S', 'R', 'P', 'A', 'U', 'E', 'C'].filter((_, i) => fl & (1 << i)).join('');
  const win = (f[l4 + 14] << 8) | f[l4 + 15];
  // Options worth seeing: MSS, window scale, SACK-permitted, SACK blocks (timestamps omitted).
  const opts = [];
  for (let i = l4 + 20; i < l4 + doff && i < f.length; ) {
    const kind = f[i];
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = f[i + 1];
    if (!(len >= 2)) break;
    if (kind === 2) opts.push(`mss ${(f[i + 2] << 8) | f[i + 3]}`);
    else if (kind === 3) opts.push(`wscale ${f[i + 2]}`);
    else if (kind === 4) opts.push('sackOK');
    else if (kind === 5) {
      const blocks = [];
      for (let j = i + 2; j + 8 <= i + len; j += 8) blocks.push(`${u32(j)}-${u32(j + 4)}`);
      opts.push(`sack ${blocks.join(',')}`);
    }
    i += len;
  }
  const o = opts.length > 0 ? ` <${opts.join('; ')}>` : '';
  return `TCP ${sport}>${dport} [${flags}] seq ${u32(l4 + 4)} ack ${u32(l4 + 8)} win ${win} len ${l4len - doff}${o}${fragInfo}`;
}

function printResult(r) {
  const p = r.params;
  console.log(`case: ${JSON.stringify(p)}`);
  console.log(`result: ${r.ok ? 'OK' : 'FAILED'}  time ${r.timeMs.toFixed(3)} ms (estimate ${r.estimateMs.toFixed(0)}, bound ${tc.timeBound(p)})  transfer ${r.transferMs.toFixed(3)} ms  goodput ${r.goodputMbps.toFixed(3)} Mbit/s  steps ${r.steps}  trace ${r.traceHash}`);
  console.log(`client: ${JSON.stringify(r.client)}`);
  console.log(`server: ${JSON.stringify(r.server)}`);
  for (const d of r.net) {
    console.log(
      `net ${d.name}: sent ${d.sent} delivered ${d.delivered} dropped ${JSON.stringify(d.dropped)} corrupted ${d.corrupted} duplicated ${d.duplicated} reordered ${d.reordered} maxQueue ${d.maxQueueFrames}`,
    );
  }
  console.log(`stack drops: ${JSON.stringify(r.drops)}`);
  for (const f of r.failures) console.log(`  FAIL: ${f}`);
  if (!r.ok) console.log(`replay: ${tc.tcpCaseCommand(p)}`);
}

async function runMany(start, count, jobs, maxBytes, slowest) {
  const seeds = Array.from({ length: count }, (_, i) => start + i);
  const t0 = Date.now();
  const failures = [];
  const all = [];
  let done = 0;
  let virtual = 0;
  const shards = Array.from({ length: jobs }, (_, j) => seeds.filter((_, i) => i % jobs === j));
  await Promise.all(
    shards.map(
      (shard) =>
        new Promise((resolve, reject) => {
          const w = new Worker(fileURLToPath(import.meta.url), { workerData: { seeds: shard, maxBytes } });
          w.on('message', (m) => {
            done++;
            virtual += m.timeMs;
            all.push(m);
            if (!m.ok) {
              failures.push(m);
              console.log(`FAIL seed ${m.params.seed}: ${m.failures.join('; ')}\n  replay: ${tc.tcpCaseCommand(m.params)}`);
            }
            if (done % 100 === 0) console.log(`... ${done}/${count} cases, ${failures.length} failed, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
          });
          w.on('error', reject);
          w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
        }),
    ),
  );
  const secs = (Date.now() - t0) / 1000;
  console.log(`${count} cases (seeds ${start}..${start + count - 1}) in ${secs.toFixed(1)} s (${(virtual / 1000).toFixed(0)} s of virtual time): ${failures.length} failed`);
  for (const f of failures.sort((a, b) => a.params.seed - b.params.seed)) console.log(`  ${tc.tcpCaseCommand(f.params)}`);
  if (slowest > 0) {
    console.log(`the ${slowest} slowest cases relative to the model (time / estimate):`);
    for (const m of all.filter((x) => x.ok).sort((a, b) => b.timeMs / b.estimateMs - a.timeMs / a.estimateMs).slice(0, slowest)) {
      console.log(`  ${(m.timeMs / m.estimateMs).toFixed(2)}x (${m.timeMs.toFixed(0)} ms, estimate ${m.estimateMs.toFixed(0)} ms): ${tc.tcpCaseCommand(m.params)}`);
    }
  }
  return failures.length === 0;
}

if (!isMainThread) {
  // Worker: run the given seeds, report each result (without the bulky parts).
  for (const seed of workerData.seeds) {
    const p = tc.randomTcpCase(seed, { maxBytes: workerData.maxBytes });
    let r;
    try {
      r = tc.runTcpCase(p);
    } catch (e) {
      r = { params: p, ok: false, failures: [`exception: ${e && e.stack ? e.stack : e}`], timeMs: 0, estimateMs: 1 };
    }
    parentPort.postMessage({ params: r.params, ok: r.ok, failures: r.failures, timeMs: r.timeMs, estimateMs: r.estimateMs });
  }
} else {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) usage();
  if (!tc.tcpAvailable()) {
    console.error('this build has no stack.tcp: nothing to simulate');
    process.exit(2);
  }
  const take = (name, def) => {
    const i = argv.indexOf(name);
    if (i < 0) return def;
    const v = argv[i + 1];
    argv.splice(i, 2);
    if (v === undefined || !Number.isFinite(Number(v))) usage(`${name} needs a number`);
    return Number(v);
  };
  const flag = (name) => {
    const i = argv.indexOf(name);
    if (i < 0) return false;
    argv.splice(i, 1);
    return true;
  };
  const count = take('--count', 0);
  const start = take('--start', 1);
  const jobs = take('--jobs', Math.max(1, availableParallelism()));
  const maxBytes = take('--max-bytes', 2 * 1024 * 1024);
  const slowest = take('--slowest', 0);
  const verbose = flag('--verbose');
  const matrix = flag('--matrix');
  if (matrix) {
    const mx = await import(pathToFileURL(join(dist, 'matrix.js')).href);
    const m = mx.throughputMatrix();
    console.log(mx.formatMatrix(m));
    const snap = join(root, 'test', 'sim', 'throughput-matrix.json');
    if (existsSync(snap)) {
      const same = JSON.stringify(JSON.parse(readFileSync(snap, 'utf8'))) === JSON.stringify(m);
      console.log(same ? 'same as test/sim/throughput-matrix.json' : 'DIFFERS from test/sim/throughput-matrix.json (UPDATE_SNAPSHOTS=1 npm test rewrites it)');
    }
  } else if (count > 0) {
    const ok = await runMany(start, count, jobs, maxBytes, slowest);
    process.exit(ok ? 0 : 1);
  } else {
    let parsed;
    try {
      parsed = tc.parseTcpCaseArgs(argv);
    } catch (e) {
      usage(e.message);
    }
    if (parsed.rest.length > 0) usage(`unknown arguments: ${parsed.rest.join(' ')}`);
    const kind = parsed.params.kind ?? 'ip';
    const hooks = {};
    if (verbose) {
      hooks.onEvent = (e) => {
        const extra = e.cause ? ` (${e.cause})` : '';
        console.log(`${e.time.toFixed(3).padStart(12)} ${e.dir} ${e.what}${extra} ${describeFrame(kind, e.frame)}`);
      };
    }
    const r = tc.runTcpCase(parsed.params, hooks);
    printResult(r);
    process.exit(r.ok ? 0 : 1);
  }
}
