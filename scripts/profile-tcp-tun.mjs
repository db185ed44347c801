#!/usr/bin/env node
/**
 * Profiles `netstack host` receiving (or sending) TCP over its TUN device from the kernel, inside
 * a network namespace this script creates and deletes: bench/c/tcp_bulk.c on the kernel side,
 * the host's discard (port 9, kernel → stack) or chargen (port 19, stack → kernel) service,
 * which run over the net.Socket adapter (src/api/net.ts). Needs root and a C compiler.
 *
 *   node scripts/profile-tcp-tun.mjs [--seconds S] [--flows N] [--send] [--no-prof]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const seconds = Number(arg('--seconds', '5'));
const flows = Number(arg('--flows', '1'));
const prof = !process.argv.includes('--no-prof');
// --send: the stack sends (chargen); default: the kernel sends to the stack's discard service.
const stackSends = process.argv.includes('--send');
const ns = `nsproftcp-${process.pid}`;
const tmp = mkdtempSync(join(tmpdir(), 'netstack-prof-'));
execFileSync('cc', ['-O2', '-pthread', '-o', join(tmp, 'tcp_bulk'), join(root, 'bench', 'c', 'tcp_bulk.c')]);
execFileSync('ip', ['netns', 'add', ns]);
let host;
const kill = setTimeout(() => {
  host?.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', ns]);
  process.exit(1);
}, (seconds + 40) * 1000);
try {
  const args = [...(prof ? ['--cpu-prof', '--cpu-prof-dir', tmp] : []), join(root, 'dist', 'src', 'cli', 'main.js'), 'host', '--netns', ns, '--http-port', '0'];
  host = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let out = '';
    host.stdout.on('data', (d) => {
      out += d;
      if (/^ready/m.test(out)) resolve();
    });
    host.on('exit', (c) => reject(new Error(`host exited ${c}`)));
  });
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'tun0', 'txqueuelen', '10000']);
  const run = (s) =>
    execFileSync('ip', ['netns', 'exec', ns, join(tmp, 'tcp_bulk'), 'client', '10.0.0.2', stackSends ? '19' : '9', stackSends ? 'recv' : 'send', String(flows), String(s)], { encoding: 'utf8' });
  run(1); // warm-up
  const cpu0 = host.pid;
  process.stdout.write(run(seconds).trim() + '\n');
  const exited = new Promise((r) => host.once('exit', r));
  host.kill('SIGTERM');
  await exited;
  if (prof) {
    const f = readdirSync(tmp).find((x) => x.endsWith('.cpuprofile'));
    process.stdout.write(`profile: ${join(tmp, f)}\n`);
    process.stdout.write(execFileSync(process.execPath, [join(root, 'scripts', 'profile-top.mjs'), join(tmp, f), '35'], { encoding: 'utf8' }));
  }
  void cpu0;
} finally {
  clearTimeout(kill);
  host?.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', ns]);
}
