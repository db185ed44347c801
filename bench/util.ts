/**
 * Shared plumbing of the benchmark parts: namespaces and child processes it creates (tracked so
 * that one cleanup deletes and kills exactly those), commands run inside a namespace, medians.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** Project root: this file runs as dist/bench/util.js. */
export const root = join(here, '..', '..');
/**
 * The `netstack` command the host-based parts run. NETSTACK_BENCH_CLI points them at another
 * build's dist/src/cli/main.js (e.g. a branch's, to measure a feature before it is merged).
 */
export const cli = process.env.NETSTACK_BENCH_CLI ?? join(root, 'dist', 'src', 'cli', 'main.js');

export type Log = (msg: string) => void;

const namespaces = new Set<string>();
const children = new Set<ChildProcess>();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Creates a namespace (loopback up) that cleanupAll() deletes. */
export function createNs(name: string): string {
  execFileSync('ip', ['netns', 'add', name]);
  namespaces.add(name);
  inNs(name, 'ip', ['link', 'set', 'lo', 'up']);
  return name;
}

export function deleteNs(name: string): void {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  namespaces.delete(name);
}

/** Runs a command in a namespace to completion (blocking); throws on failure. */
export function inNs(ns: string, cmd: string, args: string[], timeoutMs = 30_000): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Like inNs but returns the status and output instead of throwing. */
export function tryInNs(ns: string, cmd: string, args: string[], timeoutMs = 30_000): { ok: boolean; out: string; err: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim() || (r.error?.message ?? '') };
}

/** Spawns a tracked child (killed by cleanupAll if still running). */
export function spawnTracked(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

/** Runs a command to completion without blocking the event loop; kills it after limitMs. */
export function runAsync(cmd: string, args: string[], limitMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawnTracked(cmd, args);
    c.stdin!.end();
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), limitMs);
    // 'close', not 'exit': the last output may still be unread when 'exit' fires.
    c.on('close', (code, signal) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}): ${err.trim() || out.trim()}`));
    });
  });
}

/** Resolves with the first stdout line matching `re`; rejects once the child has exited and closed its output, or after ms. */
export function waitLine(child: ChildProcess, re: RegExp, what: string, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const done = (e: Error | undefined, line?: string): void => {
      clearTimeout(t);
      child.stdout!.off('data', onOut);
      child.stderr!.off('data', onErr);
      child.off('close', onExit);
      if (e) reject(e);
      else resolve(line!);
    };
    const t = setTimeout(() => done(new Error(`${what}: nothing matching ${re} after ${ms} ms; stdout: ${out.slice(-500)} stderr: ${err.slice(-500)}`)), ms);
    const onOut = (d: Buffer): void => {
      out += d.toString();
      const line = out.split('\n').find((l) => re.test(l));
      if (line !== undefined) done(undefined, line);
    };
    const onErr = (d: Buffer): void => {
      err += d.toString();
    };
    const onExit = (code: number | null): void => done(new Error(`${what} exited (${code}); stdout: ${out.slice(-500)} stderr: ${err.slice(-500)}`));
    child.stdout!.on('data', onOut);
    child.stderr!.on('data', onErr);
    // 'close', not 'exit': a child's last output may still be unread when 'exit' fires.
    child.on('close', onExit);
  });
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. Only our own children. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** Kills the children and deletes the namespaces this benchmark created (synchronous: also used on signals). */
export function cleanupAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  for (const n of namespaces) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
  namespaces.clear();
}

/** Installs a Debian package with apt-get when `cmd` is missing and we are root. */
export function ensureTool(cmd: string, pkg: string, log: Log): boolean {
  if (has(cmd)) return true;
  if (process.getuid?.() !== 0 || !has('apt-get')) return false;
  log(`installing ${pkg} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore', env, timeout: 5 * 60_000 });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore', env, timeout: 5 * 60_000 });
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore', env, timeout: 5 * 60_000 });
  }
  return has(cmd);
}

export function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}
