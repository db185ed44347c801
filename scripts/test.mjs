#!/usr/bin/env node
/**
 * The test runner behind `npm test` (which builds first):
 *
 *  1. When run as root, installs the system tools the device tests use if any is missing
 *     (`apt-get update` once, then `apt-get install -y` of only the missing packages).
 *  2. Runs the unit tests: `node --test` over dist/test/unit/**\/*.test.js (concurrently).
 *  3. Runs the device tests: dist/test/device/**\/*.test.js, one file at a time. When the
 *     machine cannot run them (no /dev/net/tun, not root, tools missing) they are skipped with
 *     the reason printed, except under CI=true, where that is a failure.
 *
 * Exits non-zero when anything failed. Every child run is bounded in time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const CI = process.env.CI === 'true';
/** `--unit` or `--device` runs only that part (npm run test:unit / test:device). */
const onlyUnit = process.argv.includes('--unit');
const onlyDevice = process.argv.includes('--device');

/** Tools the device tests run, and the Debian/Ubuntu package that provides each. */
const TOOLS = [
  { cmd: 'ip', pkg: 'iproute2' },
  { cmd: 'ping', pkg: 'iputils-ping' },
  { cmd: 'tcpdump', pkg: 'tcpdump' },
  { cmd: 'python3', pkg: 'python3' },
  // TCP device tests: curl against the stack's HTTP server; tc (iproute2) for netem.
  { cmd: 'curl', pkg: 'curl' },
  { cmd: 'tc', pkg: 'iproute2' },
  // test/device/crafted.test.ts: scapy builds the crafted packets. Debian's module is seen by
  // /usr/bin/python3 (not necessarily by a pyenv/venv python3 earlier in PATH). Optional: without
  // it only that file skips (or fails under CI=true), the other device tests still run.
  { cmd: 'scapy (python3 module)', pkg: 'python3-scapy', optional: true, check: hasScapy },
  // test/device/floods.test.ts (SYN flood, port scans) and attacks.test.ts, from the kernel side.
  { cmd: 'hping3', pkg: 'hping3', optional: true },
  { cmd: 'nmap', pkg: 'nmap', optional: true },
];

function hasScapy() {
  return ['/usr/bin/python3', 'python3'].some(
    (py) => spawnSync(py, ['-c', 'import scapy.all'], { stdio: 'ignore', timeout: 60_000 }).status === 0,
  );
}

/** Whether a tool of TOOLS is there. */
function present(t) {
  return t.check ? t.check() : hasCommand(t.cmd);
}

/** Per-test timeout (ms) and a bound on each whole `node --test` run (ms). */
const TEST_TIMEOUT_MS = 300_000;
const UNIT_RUN_LIMIT_MS = 5 * 60_000;
const DEVICE_RUN_LIMIT_MS = 12 * 60_000;

function log(msg) {
  process.stdout.write(`[test] ${msg}\n`);
}

function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Installs missing tools when we are root and apt-get exists. Returns the still-missing ones that
 * are not optional.
 */
function ensureTools() {
  let missing = TOOLS.filter((t) => !present(t));
  if (missing.length === 0) return [];
  const names = [...new Set(missing.map((t) => t.pkg))];
  if (!isRoot()) {
    log(`missing tools: ${missing.map((t) => t.cmd).join(', ')} (not root, so not installing ${names.join(' ')})`);
    return missing.filter((t) => !t.optional);
  }
  if (!hasCommand('apt-get')) {
    log(`missing tools: ${missing.map((t) => t.cmd).join(', ')} and no apt-get to install them`);
    return missing.filter((t) => !t.optional);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log(`installing ${names.join(' ')} with apt-get`);
  const opts = { stdio: 'inherit', env, timeout: 10 * 60_000 };
  const upd = spawnSync('apt-get', ['update'], opts);
  if (upd.status !== 0) log(`apt-get update failed (status ${upd.status}); trying the install anyway`);
  const inst = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...names], opts);
  if (inst.status !== 0) log(`apt-get install failed (status ${inst.status})`);
  missing = TOOLS.filter((t) => !present(t));
  if (missing.some((t) => t.optional)) log(`still missing (optional): ${missing.filter((t) => t.optional).map((t) => t.cmd).join(', ')}`);
  return missing.filter((t) => !t.optional);
}

/** All `*.test.js` files under `dir`, sorted; [] when the directory does not exist. */
function findTests(dir) {
  const out = [];
  const walk = (d) => {
    let entries;
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const name of entries.sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (name.endsWith('.test.js')) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Runs `node --test` over `files`; resolves with the exit status (non-zero on failure/timeout). */
function runNodeTest(label, files, extraArgs, limitMs) {
  return new Promise((resolve) => {
    const args = ['--test', '--test-reporter=spec', `--test-timeout=${TEST_TIMEOUT_MS}`, ...extraArgs, ...files];
    log(`${label}: node --test over ${files.length} file(s):`);
    for (const f of files) log(`  ${relative(root, f)}`);
    const started = Date.now();
    const child = spawn(process.execPath, args, { stdio: 'inherit', cwd: root, env: process.env });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      log(`${label}: still running after ${limitMs / 1000} s, stopping it`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const status = timedOut ? 124 : code ?? 1;
      log(`${label}: ${status === 0 ? 'passed' : `FAILED (exit ${code ?? signal})`} in ${secs} s`);
      resolve(status);
    });
  });
}

/** Why device tests cannot run here, or null. Mirrors test/helpers/netns.ts plus the tools. */
async function deviceUnavailable(missingTools) {
  let why = null;
  try {
    const helper = await import(join(dist, 'test', 'helpers', 'netns.js'));
    why = helper.deviceTestsUnavailable();
  } catch (e) {
    why = `cannot load dist/test/helpers/netns.js (${e.message}); run 'npm run build'`;
  }
  if (why === null && missingTools.length > 0) {
    why = `missing tools: ${missingTools.map((t) => `${t.cmd} (package ${t.pkg})`).join(', ')}`;
  }
  return why;
}

async function main() {
  if (!existsSync(dist)) {
    log("dist/ is missing: run 'npm run build' first (npm test does)");
    process.exit(1);
  }
  const failures = [];
  const missingTools = onlyUnit ? [] : ensureTools();

  const unit = onlyDevice ? [] : findTests(join(dist, 'test', 'unit'));
  if (unit.length === 0) {
    if (!onlyDevice) log('unit: no test files found');
  } else {
    const jobs = Math.max(2, availableParallelism());
    const st = await runNodeTest('unit', unit, [`--test-concurrency=${jobs}`], UNIT_RUN_LIMIT_MS);
    if (st !== 0) failures.push('unit tests failed');
  }

  const device = onlyUnit ? [] : findTests(join(dist, 'test', 'device'));
  const why = onlyUnit ? null : await deviceUnavailable(missingTools);
  if (device.length === 0) {
    if (!onlyUnit) log('device: no test files found');
  } else if (why !== null) {
    if (CI) {
      log(`device: CANNOT RUN under CI=true: ${why}`);
      failures.push(`device tests cannot run: ${why}`);
    } else {
      log(`device: SKIPPED ${device.length} file(s): ${why}`);
    }
  } else {
    const st = await runNodeTest('device', device, ['--test-concurrency=1'], DEVICE_RUN_LIMIT_MS);
    if (st !== 0) failures.push('device tests failed');
  }

  if (failures.length > 0) {
    log(`FAILED: ${failures.join('; ')}`);
    process.exit(1);
  }
  log(why !== null && device.length > 0 ? 'passed (device tests skipped)' : 'all passed');
}

main().catch((e) => {
  log(`runner error: ${e.stack ?? e}`);
  process.exit(1);
});
