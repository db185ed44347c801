#!/usr/bin/env node
/**
 * Profiles `netstack host` under UDP echo load (bench/c/udp_flood.c) and optionally ping, inside
 * a network namespace this script creates and deletes. Needs root and a C compiler.
 *
 *   node scripts/profile-udp.mjs [--seconds S] [--size BYTES] [--v6] [--window W] [--no-prof]
 *
 * Writes the profile to /tmp/netstack-prof-*\/ and prints the top entries (scripts/profile-top.mjs)
 * and the flood's result. Bounded: the flood stops after S seconds, everything is killed after
 * S + 30 seconds.
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
const size = Number(arg('--size', '64'));
const window = Number(arg('--window', '32'));
const v6 = process.argv.includes('--v6');
const prof = !process.argv.includes('--no-prof');
const ping = process.argv.includes('--ping');
const ns = `nsprof-${process.pid}`;
const tmp = mkdtempSync(join(tmpdir(), 'netstack-prof-'));
execFileSync('cc', ['-O2', '-o', join(tmp, 'udp_flood'), join(root, 'bench', 'c', 'udp_flood.c')]);
execFileSync('ip', ['netns', 'add', ns]);
let host;
const kill = setTimeout(() => {
  host?.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', ns]);
  process.exit(1);
}, (seconds + 30) * 1000);
try {
  const args = [...(prof ? ['--cpu-prof', '--cpu-prof-dir', tmp] : []), join(root, 'dist', 'src', 'cli', 'main.js'), 'host', '--netns', ns, '--no-tcp-services'];
  host = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let out = '';
    host.stdout.on('data', (d) => {
      out += d;
      if (/^ready/m.test(out)) resolve();
    });
    host.on('exit', (c) => reject(new Error(`host exited ${c}`)));
  });
  const addr = v6 ? 'fd00::2' : '10.0.0.2';
  // Warm-up, then the measured flood.
  execFileSync('ip', ['netns', 'exec', ns, join(tmp, 'udp_flood'), addr, '8000', '20000', '32', '64', '5', '100']);
  let out;
  if (ping) {
    out = execFileSync('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', String(seconds * 400), '-i', '0.002', '-W', '1', addr], { encoding: 'utf8' });
  } else {
    out = execFileSync('ip', ['netns', 'exec', ns, join(tmp, 'udp_flood'), addr, '8000', String(seconds * 1_000_000), String(window), String(size), String(seconds), '100'], { encoding: 'utf8' });
  }
  process.stdout.write(out.trim() + '\n');
  const exited = new Promise((r) => host.once('exit', r));
  host.kill('SIGTERM');
  await exited;
  if (prof) {
    const f = readdirSync(tmp).find((x) => x.endsWith('.cpuprofile'));
    process.stdout.write(`profile: ${join(tmp, f)}\n`);
    process.stdout.write(execFileSync(process.execPath, [join(root, 'scripts', 'profile-top.mjs'), join(tmp, f), '30'], { encoding: 'utf8' }));
  }
} finally {
  clearTimeout(kill);
  host?.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', ns]);
}
