/** The built `netstack` command's paths that need no device: help, version, usage errors. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync, statSync } from 'node:fs';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const pkgPath = fileURLToPath(new URL('../../../package.json', import.meta.url));

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('netstack command', () => {
  test('has a shebang line', () => {
    assert.match(readFileSync(cli, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });

  test('is executable after the build', () => {
    assert.ok((statSync(cli).mode & 0o111) !== 0, `${cli} is not executable`);
  });

  test('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string };
    const r = run(['--version']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), `netstack ${pkg.version}`);
  });

  test('help lists the commands', () => {
    for (const args of [['help'], ['--help'], ['-h']]) {
      const r = run(args);
      assert.equal(r.status, 0, args.join(' '));
      assert.match(r.stdout, /Usage: netstack <command>/);
      assert.match(r.stdout, /\bhost\b/);
      assert.match(r.stdout, /\budp-echo\b/);
    }
  });

  test('no command shows the help and exits 2', () => {
    const r = run([]);
    assert.equal(r.status, 2);
    assert.match(r.stdout, /Usage: netstack/);
  });

  for (const cmd of ['host', 'udp-echo']) {
    test(`${cmd} --help documents every option`, () => {
      const r = run([cmd, '--help']);
      assert.equal(r.status, 0);
      const opts = ['--dev', '--tap', '--mac', '--mtu', '--netns', '--no-configure', '--ip', '--host-ip', '--ip6', '--host-ip6', '--pcap', '--stats', '--help'];
      for (const o of [...opts, cmd === 'host' ? '--udp-echo' : '--port']) assert.ok(r.stdout.includes(o), `${cmd} --help misses ${o}`);
      const r2 = run(['help', cmd]);
      assert.equal(r2.stdout, r.stdout);
    });
  }

  const usage: Array<[string[], RegExp]> = [
    [['frob'], /unknown command 'frob'/],
    [['--frob'], /unknown option '--frob'/],
    [['help', 'frob'], /unknown command 'frob'/],
    [['host', '--frob'], /frob/],
    [['host', '--mtu', 'big'], /--mtu/],
    [['udp-echo', '--port', '70000'], /--udp-echo|--port/],
  ];
  for (const [args, re] of usage) {
    test(`usage error: ${args.join(' ')}`, () => {
      const r = run(args);
      assert.equal(r.status, 2);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 2, r.stderr);
      assert.match(lines[0]!, re);
      assert.match(lines[1]!, /--help/);
      assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/, 'no stack trace');
    });
  }
});
