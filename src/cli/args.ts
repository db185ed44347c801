/**
 * Command-line parsing for the `netstack` command: pure functions (no I/O), so they are unit
 * tested without a device. Errors are `UsageError`s, which main.ts prints as one line plus a
 * hint to use --help, exiting with status 2.
 */
import { parseArgs } from 'node:util';
import { isIPv4, isIPv6 } from 'node:net';

export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose --help the hint names ('' for the top level). */
    readonly command = '',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An address with its prefix length, as given on the command line. */
export interface Cidr {
  address: string;
  prefix: number;
  /** The original text, normalised to `address/prefix`. */
  text: string;
}

/** The device and address options every device-using command takes (host, udp-echo, download, upload). */
export interface DeviceOptions {
  dev: string;
  tap: boolean;
  ip: Cidr;
  hostIp: Cidr;
  ip6: Cidr;
  hostIp6: Cidr;
  linkLocal: Cidr;
  mtu: number;
  /** Whether --mtu was given (with --no-configure the device's own MTU is used otherwise). */
  mtuGiven: boolean;
  configure: boolean;
  pcap: string | undefined;
  /** Seconds between periodic counter reports; 0 = none. */
  stats: number;
  netns: string | undefined;
  /** The stack's MAC address in TAP mode (text), or undefined for the default. */
  mac: string | undefined;
  /** Emulated delay/loss/duplication/reordering between the device and the stack (--impair). */
  impair: ImpairSpec | undefined;
  /** IFF_VNET_HDR with checksum and TSO offloads (--offload). */
  offload: boolean;
  help: boolean;
}

/**
 * `--impair delay=5ms,loss=3%,duplicate=1%,reorder=25%,seed=1`: applied by the stack's side of
 * the link to frames in both directions, independently: `loss` drops, `duplicate` delivers
 * twice, `delay` holds every frame that long, and `reorder` (needs a delay) holds that share of
 * frames an extra 0.5 to 2·delay ms so later frames overtake them — the simulator's model
 * (src/sim/tcp-case.ts). netem instead lets the reordered share skip the delay, which on a
 * path with no other delay collapses RACK's min_RTT (see ImpairedLink in host.ts).
 */
export interface ImpairSpec {
  delayMs: number;
  /** Probabilities in [0, 1]. */
  loss: number;
  duplicate: number;
  reorder: number;
  seed: number;
}

export interface HostConfig extends DeviceOptions {
  command: 'host' | 'udp-echo';
  /** UDP echo port; 0 = no echo service. */
  udpEcho: number;
  /** TCP echo (7), discard (9), chargen (19) and HTTP; false with --no-tcp-services and for udp-echo. */
  tcpServices: boolean;
  /** HTTP server port; 0 = off. */
  httpPort: number;
  /** Seconds a clean stop waits for connections to close after their FIN before resetting them. */
  shutdownGrace: number;
  /** --shards N: N stack shards on worker threads over a multi-queue TUN device; 0 = one stack on the main thread. */
  shards: number;
}

/** Where `download`/`upload` connect to. */
export interface Endpoint {
  host: string;
  port: number;
  family: 4 | 6;
}

export interface TransferConfig extends DeviceOptions {
  command: 'download' | 'upload';
  connect: Endpoint;
  /** download: stop after this many bytes (undefined = until EOF); upload: bytes of the chargen pattern to send. */
  bytes: number | undefined;
  /** download: HTTP GET of this path instead of a raw read. */
  http: string | undefined;
  /** upload: send this file instead of the chargen pattern. */
  file: string | undefined;
  json: boolean;
  /** Progress bar on stderr: 'auto' = when stderr is a TTY. */
  progress: 'auto' | 'off';
  /** Give up when nothing moves for this many seconds (connect included). */
  timeout: number;
}

export const DEFAULTS = {
  devTun: 'tun0',
  devTap: 'tap0',
  ip: '10.0.0.2/24',
  hostIp: '10.0.0.1/24',
  ip6: 'fd00::2/64',
  hostIp6: 'fd00::1/64',
  linkLocal: 'fe80::2/64',
  mtu: 1500,
  udpEcho: 8000,
  httpPort: 80,
  /** Seconds `host` waits on SIGINT/SIGTERM for its connections to close before resetting them. */
  shutdownGrace: 2,
  connectPort: 3000,
  /** Seconds without progress before download/upload give up. */
  transferTimeout: 60,
  /** A locally administered unicast MAC for the stack's side of a TAP link. */
  mac: '02:00:00:00:00:02',
} as const;

export const MTU_MIN = 1280;
export const MTU_MAX = 65535;

export function parseCidr(text: string, family: 4 | 6, option: string, command = ''): Cidr {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const ok = family === 4 ? isIPv4(address) : isIPv6(address) && !address.includes('%');
  if (!ok) {
    throw new UsageError(`${option}: '${text}' is not an IPv${family} address with a prefix (like ${family === 4 ? '10.0.0.2/24' : 'fd00::2/64'})`, command);
  }
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
      throw new UsageError(`${option}: bad prefix length '${p}' in '${text}' (0..${max})`, command);
    }
    prefix = Number(p);
  }
  return { address, prefix, text: `${address}/${prefix}` };
}

function parseIntOption(text: string, option: string, min: number, max: number, command: string): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${option}: '${text}' is not a whole number in ${min}..${max}`, command);
  }
  return Number(text);
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/** Linux interface names: 1..15 bytes, no '/', no whitespace, not '.' or '..'. */
const IFNAME_RE = /^[A-Za-z0-9_.:@+-]{1,15}$/;

/** parseArgs option specs of the device and address options (DeviceOptions). */
const DEVICE_OPTION_SPEC = {
  dev: { type: 'string' },
  tap: { type: 'boolean' },
  ip: { type: 'string' },
  'host-ip': { type: 'string' },
  ip6: { type: 'string' },
  'host-ip6': { type: 'string' },
  mtu: { type: 'string' },
  'no-configure': { type: 'boolean' },
  pcap: { type: 'string' },
  stats: { type: 'string' },
  netns: { type: 'string' },
  mac: { type: 'string' },
  impair: { type: 'string' },
  offload: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = Record<string, string | boolean | undefined>;

function parseValues(command: string, argv: string[], extra: Record<string, { type: 'string' | 'boolean' }>): Values {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { ...DEVICE_OPTION_SPEC, ...extra },
    });
    return values as Values;
  } catch (e) {
    throw new UsageError(cleanParseError((e as Error).message), command);
  }
}

/** The DeviceOptions part of parsed values (shared by every device-using command). */
function parseDeviceOptions(command: string, values: Values): DeviceOptions {
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const help = values.help === true;
  const tap = values.tap === true;
  const dev = str('dev') ?? (tap ? DEFAULTS.devTap : DEFAULTS.devTun);
  if (!IFNAME_RE.test(dev) || dev === '.' || dev === '..') {
    throw new UsageError(`--dev: '${dev}' is not a valid interface name (1 to 15 letters, digits, or _.:@+-)`, command);
  }
  if (str('mac') !== undefined && !tap) throw new UsageError('--mac needs --tap (a TUN link has no MAC address)', command);
  const mac = str('mac');
  if (mac !== undefined) {
    if (!MAC_RE.test(mac)) throw new UsageError(`--mac: '${mac}' is not a MAC address like 02:00:00:00:00:02`, command);
    const first = parseInt(mac.slice(0, 2), 16);
    if (first & 1) throw new UsageError(`--mac: '${mac}' is a multicast address; use a unicast one (even first byte)`, command);
  }
  const stats = str('stats');
  let statsSeconds = 0;
  if (stats !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(stats) || Number(stats) <= 0 || Number(stats) > 86400) {
      throw new UsageError(`--stats: '${stats}' is not a number of seconds in (0, 86400]`, command);
    }
    statsSeconds = Number(stats);
  }
  const pcap = str('pcap');
  if (pcap === '') throw new UsageError('--pcap: needs a file name', command);
  const netns = str('netns');
  if (netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(netns)) {
    throw new UsageError(`--netns: '${netns}' is not a namespace name`, command);
  }
  const mtu = str('mtu') === undefined ? DEFAULTS.mtu : parseIntOption(str('mtu')!, '--mtu', MTU_MIN, MTU_MAX, command);
  const ip = parseCidr(str('ip') ?? DEFAULTS.ip, 4, '--ip', command);
  const hostIp = parseCidr(str('host-ip') ?? DEFAULTS.hostIp, 4, '--host-ip', command);
  const ip6 = parseCidr(str('ip6') ?? DEFAULTS.ip6, 6, '--ip6', command);
  const hostIp6 = parseCidr(str('host-ip6') ?? DEFAULTS.hostIp6, 6, '--host-ip6', command);
  if (ip.address === hostIp.address) throw new UsageError(`--ip and --host-ip are both ${ip.address}; the stack and the kernel need different addresses`, command);
  if (ip6.address === hostIp6.address) throw new UsageError(`--ip6 and --host-ip6 are both ${ip6.address}; the stack and the kernel need different addresses`, command);
  return {
    dev,
    tap,
    ip,
    hostIp,
    ip6,
    hostIp6,
    linkLocal: parseCidr(DEFAULTS.linkLocal, 6, 'link-local'),
    mtu,
    mtuGiven: str('mtu') !== undefined,
    configure: values['no-configure'] !== true,
    pcap,
    stats: statsSeconds,
    netns,
    mac: tap ? (mac ?? DEFAULTS.mac).toLowerCase() : undefined,
    impair: str('impair') === undefined ? undefined : parseImpair(str('impair')!, command),
    offload: values.offload === true,
    help,
  };
}

/** Parses an --impair specification (see ImpairSpec). */
export function parseImpair(text: string, command = ''): ImpairSpec {
  const spec: ImpairSpec = { delayMs: 0, loss: 0, duplicate: 0, reorder: 0, seed: 1 };
  const bad = (why: string): UsageError =>
    new UsageError(`--impair: ${why} in '${text}' (like delay=5ms,loss=3%,duplicate=1%,reorder=25%)`, command);
  for (const part of text.split(',')) {
    const m = /^(delay|loss|duplicate|reorder|seed)=(\d+(?:\.\d+)?)(ms|%)?$/.exec(part.trim());
    if (!m) throw bad(`'${part}' is not KEY=VALUE with a known key`);
    const [, key, num, unit] = m;
    const v = Number(num);
    if (key === 'delay') {
      if (unit !== undefined && unit !== 'ms') throw bad('delay is in ms');
      if (v > 10_000) throw bad('delay above 10000 ms');
      spec.delayMs = v;
    } else if (key === 'seed') {
      if (unit !== undefined || !Number.isInteger(v)) throw bad('seed is a whole number');
      spec.seed = v;
    } else {
      if (unit === 'ms') throw bad(`${key} is a percentage`);
      const p = unit === '%' ? v / 100 : v;
      if (p > 1) throw bad(`${key} above 100%`);
      spec[key as 'loss' | 'duplicate' | 'reorder'] = p;
    }
  }
  if (spec.reorder > 0 && spec.delayMs === 0) throw bad('reorder needs a delay (reordered frames are held longer than the others)');
  return spec;
}

/** Parses the options of `netstack host` and `netstack udp-echo`. */
export function parseHostArgs(command: 'host' | 'udp-echo', argv: string[]): HostConfig {
  const values = parseValues(command, argv, {
    'udp-echo': { type: 'string' },
    port: { type: 'string' },
    'no-tcp-services': { type: 'boolean' },
    'http-port': { type: 'string' },
    'shutdown-grace': { type: 'string' },
    shards: { type: 'string' },
  });
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const graceText = str('shutdown-grace');
  let shutdownGrace: number = DEFAULTS.shutdownGrace;
  if (graceText !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(graceText) || Number(graceText) > 3600) {
      throw new UsageError(`--shutdown-grace: '${graceText}' is not a number of seconds in [0, 3600]`, command);
    }
    shutdownGrace = Number(graceText);
  }
  // `udp-echo` takes the port as --port as well as --udp-echo (the reference's udp_echo).
  const portText = str('udp-echo') ?? str('port');
  if (str('port') !== undefined && command !== 'udp-echo') {
    throw new UsageError("Unknown option '--port' (use --udp-echo PORT)", command);
  }
  if (command === 'udp-echo' && (values['no-tcp-services'] !== undefined || str('http-port') !== undefined)) {
    throw new UsageError(`${values['no-tcp-services'] !== undefined ? '--no-tcp-services' : '--http-port'}: udp-echo runs no TCP services (use netstack host)`, command);
  }
  const udpEcho = portText === undefined ? DEFAULTS.udpEcho : parseIntOption(portText, '--udp-echo', 0, 65535, command);
  if (command === 'udp-echo' && udpEcho === 0) throw new UsageError('--port: the UDP echo service needs a port in 1..65535', command);
  const tcpServices = command === 'host' && values['no-tcp-services'] !== true;
  const httpText = str('http-port');
  if (httpText !== undefined && values['no-tcp-services'] === true) {
    throw new UsageError('--http-port and --no-tcp-services contradict each other', command);
  }
  const httpPort = !tcpServices ? 0 : httpText === undefined ? DEFAULTS.httpPort : parseIntOption(httpText, '--http-port', 0, 65535, command);
  if ([7, 9, 19].includes(httpPort)) {
    throw new UsageError(`--http-port: ${httpPort} is taken by the ${httpPort === 7 ? 'echo' : httpPort === 9 ? 'discard' : 'chargen'} service`, command);
  }
  const device = parseDeviceOptions(command, values);
  return { command, ...device, udpEcho, tcpServices, httpPort, shutdownGrace, shards: parseShards(command, str('shards'), device) };
}

/** Most shards: more threads than cores only add switching (and MAX_TAP_QUEUES is 256). */
export const SHARDS_MAX = 64;

/** --shards N (host only): which options it cannot go with, and why. */
function parseShards(command: 'host' | 'udp-echo', text: string | undefined, device: DeviceOptions): number {
  if (text === undefined) return 0;
  if (command !== 'host') throw new UsageError('--shards is an option of netstack host', command);
  const n = parseIntOption(text, '--shards', 1, SHARDS_MAX, command);
  // ARP/NDP replies reach one queue only, so shards on a TAP device could not resolve neighbours.
  if (device.tap) throw new UsageError('--shards needs a TUN device (a TAP device needs ARP/NDP, whose replies reach one shard only)', command);
  if (device.pcap !== undefined) throw new UsageError('--pcap is not supported with --shards', command);
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * A byte count: digits with an optional binary suffix K, M, G, T (also KiB, MiB...; 1K = 1024),
 * e.g. 104857600, 100M, 1GiB. At most 2^53 - 1.
 */
export function parseSize(text: string, option: string, command = ''): number {
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!m || (m[3] !== undefined && m[2] === '' && m[3].toLowerCase() !== 'b')) {
    throw new UsageError(`${option}: '${text}' is not a byte count (like 1048576, 100M or 1GiB)`, command);
  }
  const n = Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${option}: '${text}' is too large`, command);
  return n;
}

/**
 * HOST:PORT, with an IPv6 literal in brackets ([fd00::1]:3000, [fe80::1%tun0]:3000). HOST alone
 * (no port) takes `defaultPort`.
 */
export function parseEndpoint(text: string, defaultPort: number, option: string, command = ''): Endpoint {
  let host: string;
  let portText: string | undefined;
  const bad = (why: string): UsageError => new UsageError(`${option}: '${text}' ${why} (like 10.0.0.1:3000 or [fd00::1]:3000)`, command);
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw bad('has no closing bracket');
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw bad('is not HOST:PORT');
      portText = rest.slice(1);
    }
    if (!isIPv6(host.split('%')[0]!)) throw bad('has no IPv6 address in the brackets');
  } else {
    const colons = text.split(':').length - 1;
    if (colons > 1) throw bad('looks like an IPv6 address: put it in brackets');
    [host, portText] = colons === 1 ? [text.slice(0, text.indexOf(':')), text.slice(text.indexOf(':') + 1)] : [text, undefined];
    if (!isIPv4(host)) throw bad('has no IPv4 address (netstack has no DNS: use an IP address)');
  }
  const port = portText === undefined ? defaultPort : parseIntOption(portText, option, 1, 65535, command);
  return { host, port, family: text.startsWith('[') ? 6 : 4 };
}

/** Parses the options of `netstack download` and `netstack upload`. */
export function parseTransferArgs(command: 'download' | 'upload', argv: string[]): TransferConfig {
  const values = parseValues(command, argv, {
    connect: { type: 'string' },
    v6: { type: 'boolean' },
    bytes: { type: 'string' },
    http: { type: 'string' },
    file: { type: 'string' },
    json: { type: 'boolean' },
    'no-progress': { type: 'boolean' },
    timeout: { type: 'string' },
  });
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const dev = parseDeviceOptions(command, values);
  if (command === 'download' && str('file') !== undefined) throw new UsageError('--file is for upload (download keeps no copy; it reports the SHA-256)', command);
  if (command === 'upload' && str('http') !== undefined) throw new UsageError('--http is for download', command);
  const http = str('http');
  if (http !== undefined && !http.startsWith('/')) throw new UsageError(`--http: '${http}' is not a path (it starts with /)`, command);
  const bytesText = str('bytes');
  const bytes = bytesText === undefined ? undefined : parseSize(bytesText, '--bytes', command);
  if (bytes !== undefined && http !== undefined) throw new UsageError('--bytes and --http: an HTTP download reads the whole body', command);
  const file = str('file');
  if (command === 'upload') {
    if (file === '') throw new UsageError('--file: needs a file name', command);
    if (file !== undefined && bytes !== undefined) throw new UsageError('--bytes and --file: give one of them', command);
    if (file === undefined && bytes === undefined) throw new UsageError('upload needs --bytes N (the chargen pattern) or --file FILE', command);
  }
  const v6 = values.v6 === true;
  const fallback = v6 ? `[${dev.hostIp6.address}]` : dev.hostIp.address;
  const connectText = str('connect');
  const connect = parseEndpoint(connectText ?? `${fallback}:${DEFAULTS.connectPort}`, DEFAULTS.connectPort, '--connect', command);
  if (connectText !== undefined && v6 && connect.family !== 6) throw new UsageError('--v6 with an IPv4 --connect address', command);
  const timeoutText = str('timeout');
  let timeout: number = DEFAULTS.transferTimeout;
  if (timeoutText !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(timeoutText) || Number(timeoutText) <= 0 || Number(timeoutText) > 86400) {
      throw new UsageError(`--timeout: '${timeoutText}' is not a number of seconds in (0, 86400]`, command);
    }
    timeout = Number(timeoutText);
  }
  return {
    command,
    ...dev,
    connect,
    bytes,
    http,
    file,
    json: values.json === true,
    progress: values['no-progress'] === true ? 'off' : 'auto',
    timeout,
  };
}

/** parseArgs' messages mention internals ("To specify a positional argument..."); keep line one. */
function cleanParseError(msg: string): string {
  const first = msg.split('\n')[0]!.trim();
  return first.replace(/\. To specify a positional argument.*$/, '').replace(/^TypeError \[[A-Z_]+\]: /, '');
}

/** Parses a MAC address text into 6 bytes. */
export function macBytes(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
