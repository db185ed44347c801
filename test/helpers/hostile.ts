/**
 * Shared pieces of the hostile-network device tests (test/device/attacks.test.ts): finding a
 * python3 that can import scapy, the suite options that skip without it (fail under CI=true),
 * reading a running `netstack host`'s counter tables (SIGUSR1), talking to a JSON-lines helper
 * process, and the "still answers" check run after each attack.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { deviceTestOptions, type Netns } from './netns.js';
import { UDP_ECHO_PY, type Host } from './host.js';

/**
 * A python3 that can import scapy. Debian's python3-scapy lives in /usr/lib/python3/dist-packages,
 * which a pyenv or venv `python3` earlier in PATH does not see, so /usr/bin/python3 comes first.
 */
export function findScapyPython(): string | null {
  const candidates = [process.env.SCAPY_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import scapy.all'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

/** describe() options: device tests that also need scapy (skipped without it, unless CI=true). */
export function scapySuiteOptions(python: string | null, timeout: number): { skip?: string; timeout: number } {
  const base = { ...deviceTestOptions(), timeout };
  if (base.skip !== undefined || python !== null || process.env.CI === 'true') return base;
  return { ...base, skip: 'skipped: no python3 can import scapy (apt-get install python3-scapy)' };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every section of a SIGUSR1 counter table: section title → name → value. */
export type Tables = Map<string, Map<string, number>>;

/** Asks the host for its counter table (SIGUSR1) and parses every section. */
export async function readTables(host: Host): Promise<Tables> {
  const mark = host.stderr().length;
  host.child.kill('SIGUSR1');
  // The table ends with the link section's last row.
  const done = /netstack counters[^\n]*\n[\s\S]*?\n\s+txErrors\s+\d+\n/;
  const deadline = Date.now() + 5000;
  while (!done.test(host.stderr().slice(mark))) {
    if (Date.now() > deadline) throw new Error(`no counter table after SIGUSR1: ${host.stderr().slice(mark)}`);
    await sleep(20);
  }
  const table = host.stderr().slice(mark).match(done)![0];
  const out: Tables = new Map();
  let section: Map<string, number> | undefined;
  for (const line of table.split('\n').slice(1)) {
    if (/^\S/.test(line)) {
      section = new Map();
      out.set(line, section);
      continue;
    }
    const m = /^\s+(\S+)\s+(-?\d+)$/.exec(line);
    if (section && m) section.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** The `stack` counters. */
export async function counters(host: Host): Promise<Map<string, number>> {
  return (await readTables(host)).get('stack') ?? new Map();
}

export function delta(a: Map<string, number>, b: Map<string, number>, name: string): number {
  return (b.get(name) ?? 0) - (a.get(name) ?? 0);
}

/** Asserts the exact increase of each listed counter between two snapshots. */
export function assertDeltas(a: Map<string, number>, b: Map<string, number>, want: Record<string, number>, context = ''): void {
  for (const [name, n] of Object.entries(want)) {
    assert.equal(delta(a, b, name), n, `${name} should grow by ${n}${context ? `; ${context}` : ''}`);
  }
}

/** Counters that must never move: exceptions caught by a catch-all. */
export const NEVER = ['drop.internal.exception', 'tcp.internal_error', 'tcp.callback_exception', 'udp.handler_exception'];

/** A helper process speaking one JSON object per line each way (test/device/attacks/attacks.py). */
export class JsonLines {
  private buf = '';
  private waiting: ((line: string) => void)[] = [];
  private lines: string[] = [];
  private err = '';

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiting.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
  }

  /** The next answer; rejects on {"error": ...} or after `ms`. */
  next<T = Record<string, unknown>>(ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const parse = (line: string): void => {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (typeof o.error === 'string') reject(new Error(`helper: ${o.error}`));
        else resolve(o as T);
      };
      const l = this.lines.shift();
      if (l !== undefined) return parse(l);
      const f = (line: string): void => {
        clearTimeout(t);
        try {
          parse(line);
        } catch (e) {
          reject(e);
        }
      };
      const t = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== f);
        reject(new Error(`helper did not answer within ${ms} ms; stderr: ${this.err}`));
      }, ms);
      this.waiting.push(f);
    });
  }

  /** Sends one command (a JSON object, or a line of text for line-command helpers) and waits for its answer. */
  request<T = Record<string, unknown>>(cmd: Record<string, unknown> | string, ms = 20_000): Promise<T> {
    this.child.stdin!.write((typeof cmd === 'string' ? cmd : JSON.stringify(cmd)) + '\n');
    return this.next<T>(ms);
  }

  quit(): void {
    this.child.stdin?.end(JSON.stringify({ cmd: 'quit' }) + '\n');
  }
}

/** Runs `ping` inside the namespace; asserts every echo came back. */
export function pingAll(ns: Netns, args: string[], count = 3): void {
  const r = ns.run('ping', ['-n', '-c', String(count), '-i', '0.2', '-W', '2', '-w', '20', ...args], { timeoutMs: 30_000 });
  assert.equal(r.status, 0, `ping ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, new RegExp(`${count} packets transmitted, ${count} received`), r.stdout);
}

/**
 * The stack still answers: ping both families (`size` bytes: above 1472 the echoes are
 * fragmented both ways), UDP echo of `size` bytes both families, and a TCP echo round trip.
 */
export function stillAnswers(ns: Netns, python: string, size = 56): void {
  pingAll(ns, ['-s', String(size), '10.0.0.2']);
  pingAll(ns, ['-6', '-s', String(size), 'fd00::2']);
  for (const addr of ['10.0.0.2', 'fd00::2']) {
    const out = ns.exec(python, ['-c', UDP_ECHO_PY, addr, '8000', '3', String(Math.max(1, size))], { timeoutMs: 30_000 });
    assert.match(out, /echoed 3/, `UDP echo ${addr}: ${out}`);
    const tcp = ns.exec(python, ['-c', TCP_ECHO_PY, addr, '7', '20000'], { timeoutMs: 30_000 });
    assert.match(tcp, /echoed 20000/, `TCP echo ${addr}: ${tcp}`);
  }
}

/** One TCP connection to the echo service: n random bytes there and back, byte for byte. */
export const TCP_ECHO_PY = `
import os, socket, sys
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((addr, port), timeout=10)
data = os.urandom(n)
s.sendall(data)
got = b''
while len(got) < n:
    c = s.recv(65536)
    if not c:
        break
    got += c
s.close()
print("echoed %d" % len(got) if got == data else "mismatch: %d bytes back" % len(got))
`;
