/**
 * A `net`-shaped API over the stack's TCP (Node edge: uses node:stream, node:events, node:http).
 * Modelled on Node's net module, so that Node's `http` runs over it unchanged:
 *
 *   const server = createServer(stack, (sock) => sock.pipe(sock));
 *   server.listen(7, () => ...);                  // or listen({ port, host, backlog, ipv6Only }, cb)
 *   const c = createConnection(stack, 7, '10.0.0.2', () => c.end('hi'));
 *
 *   serveHttp(stack, http.createServer(handler), 80);          // http server over the stack
 *   http.get({ agent: new HttpAgent(stack, { keepAlive: true }), host: '10.0.0.2', port: 80 }, ...);
 *   http.get({ createConnection: httpConnector(stack), host: '10.0.0.2', port: 80 }, ...);
 *
 * `Socket` is a `stream.Duplex` over one core `TcpSocket`, with backpressure both ways: a
 * write the core does not fully accept keeps its remainder and completes on the core's
 * `onDrain`; reading is switched off in the core (`setReading(false)`, the receive window
 * closes) when `push()` returns false and back on in `_read()`. `end()` half-closes (FIN after
 * the queued data); with `allowHalfOpen: false` (the default, as in Node) our side ends by
 * itself after the peer's FIN. `destroy()` behaves as Node's (the kernel's close(): FIN after
 * queued data, RST only if received data is left unread). With `resetOnDestroy: true` it
 * closes gracefully only when our FIN was already queued and no error is involved, and
 * otherwise aborts with a RST (the peer sees ECONNRESET). `resetAndDestroy()` always sends a RST.
 *
 * Errors are Node-style (`code`, negative `errno`, `syscall`, `address`/`port`), formatted as
 * Node formats them: `connect ECONNREFUSED 10.0.0.1:3000`, `read ECONNRESET`, `write EPIPE`,
 * `listen EADDRINUSE: address already in use 0.0.0.0:80`. Argument errors are thrown
 * synchronously with Node's ERR_* codes.
 *
 * Differences from Node:
 * - No DNS: hosts must be IP literals (IPv6 link-local may carry a `%zone`). A name, including
 *   'localhost', fails asynchronously with `getaddrinfo ENOTFOUND <name>` (code ENOTFOUND). An
 *   omitted host means 127.0.0.1 (or ::1 with `family: 6`).
 * - Dual stack: the core's IPv6 sockets are IPv6-only, so a server listening with no host or
 *   host '::' (without `ipv6Only: true`) opens TWO core listeners on the same port, '::' and
 *   '0.0.0.0' — the behaviour of Node's default dual-stack socket. `address()` then reports
 *   `{ address: '::', family: 'IPv6', port }` as Node does. If either cannot be opened the
 *   listen fails as a whole (EADDRINUSE, as on Linux).
 * - No IPC/pipe paths or handles in listen()/connect(); no `fd` option.
 * - `ref()`/`unref()` are accepted and do nothing (the stack's driver or device owns the event
 *   loop handles); idle-timeout timers are always unref'd, as in Node.
 */
import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import { getSystemErrorMap } from 'node:util';
import { systemError, type NodeStyleError } from './dgram.js';
import { parseIpv4, parseIpv6, splitZone } from '../wire/address.js';

// ---- the core contract (structural, so a Stack or a test double fits) -------------------------

/** An error reported by the core: `code` is an errno name (ECONNREFUSED, ECONNRESET, ...). */
export interface CoreSocketError {
  readonly code: string;
  readonly message: string;
}

/** What this module needs of the core's `TcpSocket` (src/transport/tcp/socket.ts). */
export interface CoreTcpSocket {
  readonly family: 4 | 6;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly state: string;
  // Callbacks in method syntax: bivariant, so the core's narrower error class fits.
  onConnect?(): void;
  onData?(data: Uint8Array): void;
  onEnd?(): void;
  onDrain?(): void;
  onError?(err: CoreSocketError): void;
  onClose?(): void;
  write(data: Uint8Array): number;
  shutdown(): void;
  close(): void;
  abort(): void;
  setReading(on: boolean): void;
  setNoDelay(on: boolean): void;
  setKeepAlive(on: boolean, idleMs?: number): void;
  readonly bytesReceived: number;
  readonly bytesSent: number;
}

export interface CoreTcpListener {
  readonly port: number;
  readonly address: string;
  close(): void;
}

export interface CoreTcpLayer {
  listen(
    opts: { family: 4 | 6; address?: string; port: number; backlog?: number },
    onConnection: (s: CoreTcpSocket) => void,
  ): CoreTcpListener;
  connect(opts: {
    family: 4 | 6;
    remoteAddress: string;
    remotePort: number;
    localAddress?: string;
    localPort?: number;
  }): CoreTcpSocket;
}

/** Anything with a TCP layer: a `Stack` (as `stack.tcp`), or a test double. */
export interface NetStack {
  readonly tcp: CoreTcpLayer;
}

// ---- errors -----------------------------------------------------------------------------------

export type { NodeStyleError } from './dgram.js';

function codeError(code: string, message: string, Kind: ErrorConstructor = Error): NodeStyleError {
  const e = new Kind(message) as NodeStyleError;
  e.code = code;
  return e;
}

function uvMessage(code: string, errno: number | undefined): string {
  if (errno === undefined) return code;
  return getSystemErrorMap().get(errno)?.[1] ?? code;
}

/** Like Node's uvExceptionWithHostPort: "listen EADDRINUSE: address already in use :::80". */
function uvErrorWithHostPort(code: string, syscall: string, address: string, port: number): NodeStyleError {
  const e = systemError(code, syscall, address, port);
  e.message = `${syscall} ${code}: ${uvMessage(code, e.errno)} ${address}:${port}`;
  return e;
}

/** getaddrinfo ENOTFOUND for host names (there is no resolver). */
function notFound(host: string): NodeStyleError {
  const e = new Error(
    `getaddrinfo ENOTFOUND ${host} (netstack has no DNS resolver: use an IP address)`,
  ) as NodeStyleError & { hostname: string };
  e.code = 'ENOTFOUND';
  e.errno = -3008; // UV_EAI_NONAME, as Node reports it
  e.syscall = 'getaddrinfo';
  e.hostname = host;
  return e;
}

function isCoreError(e: unknown): e is CoreSocketError {
  return (
    typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && /^E[A-Z0-9]+$/.test((e as { code: string }).code)
  );
}

/** Converts an exception from the core into a Node-style error. */
function toNodeError(e: unknown, syscall: string, address?: string, port?: number): NodeStyleError {
  if (isCoreError(e)) return systemError(e.code, syscall, address, port);
  if (e instanceof Error) return e as NodeStyleError;
  return codeError('ERR_INTERNAL_ASSERTION', String(e));
}

export const isIPv4 = (s: string): boolean => isIP(s) === 4;
export const isIPv6 = (s: string): boolean => isIP(s) === 6;

/** The IP family of a literal (zone allowed on IPv6), or 0 (as net.isIP). */
export function isIP(s: string): 0 | 4 | 6 {
  if (typeof s !== 'string') return 0;
  if (parseIpv4(s) !== null) return 4;
  const { addr, zone } = splitZone(s);
  if (zone === '') return 0;
  return parseIpv6(addr) !== null ? 6 : 0;
}

function validPort(p: unknown, allowZero = true): number {
  let n = NaN;
  if (typeof p === 'number') n = p;
  else if (typeof p === 'string' && /^\s*\d+\s*$/.test(p)) n = Number(p);
  if (!Number.isInteger(n) || n < 0 || n > 65535 || (!allowZero && n === 0)) {
    throw codeError(
      'ERR_SOCKET_BAD_PORT',
      `Port should be >= 0 and < 65536. Received ${typeof p === 'string' ? `type string ('${p}')` : String(p)}.`,
      RangeError,
    );
  }
  return n;
}

function validMsecs(ms: unknown, name: string): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw codeError('ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be a non-negative finite number. Received ${String(ms)}`, RangeError);
  }
  return ms;
}

/** Runs a user-facing emit inside a core callback: an exception becomes uncaught, later. */
function guarded(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    process.nextTick(() => {
      throw e;
    });
  }
}

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

const familyName = (f: 4 | 6): 'IPv4' | 'IPv6' => (f === 4 ? 'IPv4' : 'IPv6');

// ---- Socket -----------------------------------------------------------------------------------

export interface SocketOptions {
  /** The stack to connect over (createConnection passes it). */
  stack?: NetStack;
  allowHalfOpen?: boolean;
  /**
   * What destroy() does to a connection whose sending side has not been shut down cleanly.
   * true: RST (core abort), so the peer sees ECONNRESET. false (default, as Node): what closing the
   * descriptor does under Node (the kernel's close): FIN after the queued data — RST only when
   * received data was left unread — whether or not destroy() got an error. The http helpers
   * (serveHttp, HttpAgent, httpConnector) use false, so http behaves exactly as over Node.
   */
  resetOnDestroy?: boolean;
  /** Readable/writable high-water marks (bytes). */
  highWaterMark?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface TcpSocketConnectOptions {
  port: number | string;
  host?: string;
  localAddress?: string;
  localPort?: number;
  family?: number;
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  allowHalfOpen?: boolean;
  /** Node's `net.connect` accepts it; meaningless here and ignored. */
  hints?: number;
  /** Ignored (no DNS). */
  lookup?: unknown;
  /** Ignored (Happy Eyeballs needs DNS). */
  autoSelectFamily?: boolean;
}

export interface NetConnectOpts extends TcpSocketConnectOptions, SocketOptions {}

/** @internal options for accepted sockets. */
interface AcceptOptions extends SocketOptions {
  core: CoreTcpSocket;
  server: Server;
  pauseOnConnect?: boolean;
}

type WriteCb = (err?: Error | null) => void;

export class Socket extends Duplex {
  /** True while a connect() is in progress (as Node's `socket.connecting`). */
  connecting = false;
  /** The idle timeout in ms set by setTimeout() (undefined before), as Node's `socket.timeout`. */
  timeout: number | undefined = undefined;
  /** The server that accepted this socket, or null (Node's `socket.server`). */
  server: any = null;
  _server: any = null;

  #stack: NetStack | undefined;
  #core: CoreTcpSocket | undefined;
  /** The core reported onError/onClose: nothing more to do with it. */
  #coreDone = false;
  /** The core is delivering data (setReading(true)). */
  #reading = false;
  /** _read() was called before the connection was up. */
  #wantRead = false;
  /** A write the core took only in part: the rest waits for onDrain. */
  #pending: { buf: Uint8Array; cb: WriteCb } | undefined;
  /** A write or _final waiting for the connection. */
  #afterConnect: Array<() => void> = [];
  /** Our FIN is queued (shutdown() called). */
  #shutdown = false;
  /** The peer's FIN arrived. */
  #peerEnded = false;
  #forceReset = false;
  #resetOnDestroy: boolean;
  #bytesRead = 0;
  #bytesDispatched = 0;
  #timer: NodeJS.Timeout | undefined;
  #noDelay: boolean | undefined;
  #keepAlive: { on: boolean; delay: number } | undefined;
  #connectHost: string | undefined;
  #connectPort: number | undefined;

  constructor(options: SocketOptions = {}) {
    const o = options as SocketOptions & Partial<AcceptOptions>;
    const allowHalfOpen = Boolean(o.allowHalfOpen);
    super({
      allowHalfOpen,
      emitClose: false, // we emit 'close' ourselves, with hadError (as Node's net.Socket)
      autoDestroy: true,
      decodeStrings: true,
      ...(o.highWaterMark !== undefined ? { highWaterMark: o.highWaterMark } : {}),
      ...(o.readableHighWaterMark !== undefined ? { readableHighWaterMark: o.readableHighWaterMark } : {}),
      ...(o.writableHighWaterMark !== undefined ? { writableHighWaterMark: o.writableHighWaterMark } : {}),
    });
    this.#stack = o.stack;
    this.#resetOnDestroy = o.resetOnDestroy ?? false;
    this.on('end', () => {
      // Node's onReadableStreamEnd: without half-open, writes after the peer's FIN are EPIPE.
      if (!this.allowHalfOpen) this.#afterFin = true;
    });
    if (o.core) {
      this.server = o.server ?? null;
      this._server = this.server;
      this.#attach(o.core);
      if (o.pauseOnConnect) {
        this.pause(); // readableFlowing = false: no reading until resume()
      } else {
        this.read(0);
      }
    }
  }

  #afterFin = false;

  // ---- connect --------------------------------------------------------------------------------

  /**
   * connect(options[, connectListener]) / connect(port[, host][, connectListener]). The stack
   * comes from the constructor's `stack` option (createConnection sets it).
   */
  connect(options: NetConnectOpts, connectListener?: () => void): this;
  connect(port: number | string, host?: string, connectListener?: () => void): this;
  connect(port: number | string, connectListener?: () => void): this;
  connect(...args: unknown[]): this {
    const [opts, cb] = normalizeConnectArgs(args);
    if (opts.stack) this.#stack = opts.stack;
    const stack = this.#stack;
    if (!stack) throw codeError('ERR_INVALID_ARG_VALUE', 'netstack: Socket.connect needs a stack (new Socket({ stack }) or createConnection(stack, ...))', TypeError);
    if (this.connecting || this.#core) throw codeError('ERR_SOCKET_CONNECTING', 'Socket is already connected or connecting');
    if (this.destroyed) throw codeError('ERR_SOCKET_CLOSED', 'Socket is closed');
    if ((opts as { path?: unknown }).path !== undefined) {
      throw codeError('ERR_INVALID_ARG_VALUE', 'netstack: IPC paths are not supported', TypeError);
    }
    const port = validPort(opts.port, true);
    const fam = opts.family;
    if (fam !== undefined && fam !== 0 && fam !== 4 && fam !== 6) {
      throw codeError('ERR_INVALID_ARG_VALUE', `The property 'options.family' must be one of: 0, 4, 6. Received ${String(fam)}`, TypeError);
    }
    if (opts.localAddress !== undefined && isIP(opts.localAddress) === 0) {
      throw codeError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${String(opts.localAddress)}`, TypeError);
    }
    if (opts.localPort !== undefined) validPort(opts.localPort, true);
    if (typeof cb === 'function') this.once('connect', cb);
    if (opts.timeout) this.setTimeout(opts.timeout);
    if (opts.noDelay) this.setNoDelay(true);
    if (opts.keepAlive) this.setKeepAlive(true, opts.keepAliveInitialDelay ?? 0);

    const host = opts.host === undefined || opts.host === null || opts.host === '' ? (fam === 6 ? '::1' : '127.0.0.1') : String(opts.host);
    this.connecting = true;
    this.#connectHost = host;
    this.#connectPort = port;
    const family = isIP(host);
    if (family === 0 || (fam === 4 && family !== 4) || (fam === 6 && family !== 6)) {
      const err = notFound(host);
      process.nextTick(() => {
        if (!this.destroyed) this.destroy(err);
      });
      return this;
    }
    let core: CoreTcpSocket;
    try {
      const c: { family: 4 | 6; remoteAddress: string; remotePort: number; localAddress?: string; localPort?: number } = {
        family,
        remoteAddress: host,
        remotePort: port,
      };
      if (opts.localAddress !== undefined) c.localAddress = opts.localAddress;
      if (opts.localPort !== undefined) c.localPort = Number(opts.localPort);
      core = stack.tcp.connect(c);
    } catch (e) {
      const err = toNodeError(e, 'connect', host, port);
      process.nextTick(() => {
        if (!this.destroyed) this.destroy(err);
      });
      return this;
    }
    this.#attach(core);
    return this;
  }

  #attach(core: CoreTcpSocket): void {
    this.#core = core;
    this.#reading = false;
    core.setReading(false); // until the stream asks (_read)
    if (this.#noDelay !== undefined) core.setNoDelay(this.#noDelay);
    if (this.#keepAlive) core.setKeepAlive(this.#keepAlive.on, this.#keepAlive.delay > 0 ? this.#keepAlive.delay : undefined);
    core.onConnect = () => guarded(() => this.#onConnect());
    core.onData = (data) => guarded(() => this.#onData(data));
    core.onEnd = () => guarded(() => this.#onEnd());
    core.onDrain = () => guarded(() => this.#onDrain());
    core.onError = (err) => guarded(() => this.#onError(err));
    core.onClose = () => guarded(() => this.#onClose());
  }

  #onConnect(): void {
    if (this.destroyed || !this.connecting) return;
    this.connecting = false;
    this.#touch();
    const waiting = this.#afterConnect;
    this.#afterConnect = [];
    for (const f of waiting) f();
    if (this.destroyed) return;
    this.emit('connect');
    this.emit('ready');
    if (this.#wantRead) this.#startReading();
    else if (this.readableFlowing !== false) this.read(0);
  }

  #onData(data: Uint8Array): void {
    if (this.destroyed || data.length === 0) return;
    this.#bytesRead += data.length;
    this.#touch();
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (!this.push(buf) && this.#core && !this.#coreDone && this.#reading) {
      this.#reading = false;
      this.#core.setReading(false);
    }
  }

  #onEnd(): void {
    if (this.destroyed || this.#peerEnded) return;
    this.#peerEnded = true;
    this.#touch();
    this.push(null);
    this.read(0);
  }

  #onDrain(): void {
    const p = this.#pending;
    if (!p || this.destroyed) return;
    this.#pending = undefined;
    this.#writeCore(p.buf, p.cb);
  }

  #onError(err: CoreSocketError): void {
    this.#coreDone = true;
    if (this.destroyed) return;
    const code = err.code;
    let e: NodeStyleError;
    if (this.connecting) {
      e = systemError(code, 'connect', this.#connectHost, this.#connectPort);
    } else if (code === 'EPIPE') {
      e = systemError(code, 'write');
    } else {
      e = systemError(code, 'read');
    }
    const p = this.#pending;
    this.#pending = undefined;
    if (p) p.cb(e); // fails the write (the stream then destroys with it)
    if (!this.destroyed) this.destroy(e);
  }

  #onClose(): void {
    this.#coreDone = true;
    if (this.destroyed) return;
    const p = this.#pending;
    this.#pending = undefined;
    if (p) {
      p.cb(systemError('EPIPE', 'write'));
      return;
    }
    if (this.connecting) {
      this.destroy(systemError('ECONNREFUSED', 'connect', this.#connectHost, this.#connectPort));
      return;
    }
    if (!this.#peerEnded) {
      this.#peerEnded = true;
      this.push(null);
      this.read(0);
    }
  }

  #startReading(): void {
    const core = this.#core;
    if (!core || this.#coreDone || this.#reading || this.#peerEnded) return;
    this.#reading = true;
    core.setReading(true);
  }

  // ---- stream implementation --------------------------------------------------------------

  override _read(_size: number): void {
    if (this.connecting || !this.#core) {
      this.#wantRead = true;
      return;
    }
    this.#startReading();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: WriteCb): void {
    if (this.connecting) {
      this.#afterConnect.push(() => this._write(chunk, _encoding, cb));
      return;
    }
    if (!this.#core || this.#coreDone) {
      cb(this.#core ? systemError('EPIPE', 'write') : codeError('ERR_SOCKET_CLOSED', 'Socket is closed'));
      return;
    }
    this.#writeCore(chunk, cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, cb: WriteCb): void {
    const buf = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk));
    this._write(buf, 'buffer' as BufferEncoding, cb);
  }

  #writeCore(buf: Uint8Array, cb: WriteCb): void {
    const core = this.#core!;
    let n: number;
    try {
      n = core.write(buf);
    } catch (e) {
      cb(toNodeError(e, 'write'));
      return;
    }
    if (n > 0) {
      this.#bytesDispatched += n;
      this.#touch();
    }
    if (n >= buf.length) cb();
    else this.#pending = { buf: buf.subarray(n), cb };
  }

  override _final(cb: WriteCb): void {
    if (this.connecting) {
      this.#afterConnect.push(() => this._final(cb));
      return;
    }
    const core = this.#core;
    if (!core || this.#coreDone) {
      cb();
      return;
    }
    try {
      core.shutdown();
    } catch (e) {
      cb(toNodeError(e, 'shutdown'));
      return;
    }
    this.#shutdown = true;
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.#clearTimer();
    this.connecting = false;
    this.#afterConnect = [];
    const core = this.#core;
    if (core && !this.#coreDone) {
      this.#coreDone = true;
      const graceful = !this.#forceReset && (this.#resetOnDestroy ? !err && this.#shutdown : true);
      try {
        if (graceful) core.close();
        else core.abort();
      } catch {
        // the core is already gone
      }
    }
    if (this.#pending) {
      const p = this.#pending;
      this.#pending = undefined;
      p.cb(err ?? codeError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed'));
    }
    cb(err);
    setImmediate(() => this.emit('close', !!err));
  }

  /** Writes; after the peer's FIN on a socket without allowHalfOpen, fails with EPIPE (Node). */
  override write(chunk: any, cb?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: any, encoding: BufferEncoding, cb?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (this.#afterFin && this.writableEnded) {
      if (typeof encoding === 'function') cb = encoding;
      const er = codeError('EPIPE', 'This socket has been ended by the other party');
      if (typeof cb === 'function') process.nextTick(cb as (e: Error) => void, er);
      this.destroy(er);
      return false;
    }
    return (Duplex.prototype.write as any).call(this, chunk, encoding, cb);
  }

  /** Ends the writable side, then destroys once it has finished (used by http). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Closes with a RST (core abort), whatever the state. */
  resetAndDestroy(): this {
    this.#forceReset = true;
    this.destroy();
    return this;
  }

  // ---- options ----------------------------------------------------------------------------

  setNoDelay(noDelay = true): this {
    this.#noDelay = Boolean(noDelay);
    if (this.#core && !this.#coreDone) this.#core.setNoDelay(this.#noDelay);
    return this;
  }

  /** `initialDelay` in ms; 0 keeps the core's default idle time. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    const delay = Math.max(0, Math.floor(Number(initialDelay) || 0));
    this.#keepAlive = { on: Boolean(enable), delay };
    if (this.#core && !this.#coreDone) this.#core.setKeepAlive(Boolean(enable), delay > 0 ? delay : undefined);
    return this;
  }

  /** Idle timeout: emits 'timeout' after `ms` without activity (does not close the socket). */
  setTimeout(ms: number, callback?: () => void): this {
    if (this.destroyed) return this;
    validMsecs(ms, 'msecs');
    if (callback !== undefined && typeof callback !== 'function') {
      throw codeError('ERR_INVALID_ARG_TYPE', 'The "callback" argument must be of type function', TypeError);
    }
    this.timeout = ms;
    this.#clearTimer();
    if (ms === 0) {
      if (callback) this.removeListener('timeout', callback);
    } else {
      this.#timer = setTimeout(() => this.#onTimeout(), ms);
      this.#timer.unref();
      if (callback) this.once('timeout', callback);
    }
    return this;
  }

  #onTimeout(): void {
    if (this.destroyed) return;
    this.emit('timeout');
  }

  #touch(): void {
    this.#timer?.refresh();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Node internal some modules call to note activity. */
  _unrefTimer(): void {
    this.#touch();
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  // ---- addresses and counters -------------------------------------------------------------

  address(): AddressInfo | Record<string, never> {
    const c = this.#core;
    if (!c || !c.localAddress) return {};
    return { address: c.localAddress, family: familyName(c.family), port: c.localPort };
  }

  get remoteAddress(): string | undefined {
    return this.#core && !this.connecting ? this.#core.remoteAddress : undefined;
  }

  get remotePort(): number | undefined {
    return this.#core && !this.connecting ? this.#core.remotePort : undefined;
  }

  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.#core && !this.connecting ? familyName(this.#core.family) : undefined;
  }

  get localAddress(): string | undefined {
    return this.#core?.localAddress || undefined;
  }

  get localPort(): number | undefined {
    return this.#core?.localPort || undefined;
  }

  get localFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.#core ? familyName(this.#core.family) : undefined;
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes the core accepted plus bytes still queued here (as Node counts). */
  get bytesWritten(): number {
    return this.#bytesDispatched + (this.#pending?.buf.length ?? 0) + this.writableLength;
  }

  /** True before the connection is established (no core yet, or connecting). */
  get pending(): boolean {
    return !this.#core || this.connecting;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  /** The core connection's state name (not in Node's API; for diagnostics). */
  get tcpState(): string | undefined {
    return this.#core?.state;
  }
}

function normalizeConnectArgs(args: unknown[]): [NetConnectOpts, (() => void) | undefined] {
  const a0 = args[0];
  let opts: NetConnectOpts;
  let rest: unknown[];
  if (a0 !== null && typeof a0 === 'object') {
    opts = { ...(a0 as NetConnectOpts) };
    rest = args.slice(1);
  } else {
    opts = { port: a0 as number };
    rest = args.slice(1);
    if (typeof rest[0] === 'string') {
      opts.host = rest[0];
      rest = rest.slice(1);
    }
  }
  const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
  return [opts, cb];
}

/**
 * Opens a TCP connection over `stack`, like `net.createConnection`:
 * (stack, port[, host][, listener]) or (stack, options[, listener]).
 */
export function createConnection(stack: NetStack, options: NetConnectOpts, connectListener?: () => void): Socket;
export function createConnection(stack: NetStack, port: number | string, host?: string, connectListener?: () => void): Socket;
export function createConnection(stack: NetStack, port: number | string, connectListener?: () => void): Socket;
export function createConnection(stack: NetStack, ...args: unknown[]): Socket {
  const [opts] = normalizeConnectArgs(args);
  const sockOpts: SocketOptions = { stack };
  if (opts.allowHalfOpen !== undefined) sockOpts.allowHalfOpen = opts.allowHalfOpen;
  if (opts.highWaterMark !== undefined) sockOpts.highWaterMark = opts.highWaterMark;
  if (opts.readableHighWaterMark !== undefined) sockOpts.readableHighWaterMark = opts.readableHighWaterMark;
  if (opts.writableHighWaterMark !== undefined) sockOpts.writableHighWaterMark = opts.writableHighWaterMark;
  if (opts.resetOnDestroy !== undefined) sockOpts.resetOnDestroy = opts.resetOnDestroy;
  const s = new Socket(sockOpts);
  return (s.connect as any)(...args);
}

/** Alias of createConnection (as `net.connect`). */
export const connect = createConnection;

// ---- Server -----------------------------------------------------------------------------------

export interface ServerOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  /** For accepted sockets: see SocketOptions.resetOnDestroy (default false). */
  resetOnDestroy?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
}

export interface ListenOptions {
  port?: number | string;
  host?: string;
  backlog?: number;
  ipv6Only?: boolean;
  exclusive?: boolean;
  path?: string;
  /** Closes the server when aborted (as Node). */
  signal?: AbortSignal;
}

export class Server extends EventEmitter {
  /** Connections beyond this are closed at once (and 'drop' is emitted), as in Node. */
  maxConnections: number | undefined = undefined;

  readonly #stack: NetStack;
  readonly #opts: ServerOptions;
  #listeners: CoreTcpListener[] = [];
  #address: AddressInfo | null = null;
  readonly #connections = new Set<Socket>();
  #closeRequested = false;

  constructor(stack: NetStack, options: ServerOptions = {}, connectionListener?: (socket: Socket) => void) {
    super();
    this.#stack = stack;
    this.#opts = { ...options };
    if (connectionListener) this.on('connection', connectionListener);
  }

  get listening(): boolean {
    return this.#listeners.length > 0;
  }

  /**
   * listen([port[, host[, backlog]]][, cb]) or listen({ port, host, backlog, ipv6Only }[, cb]).
   * No host, or '::' without ipv6Only: both families (see the header comment).
   */
  listen(port?: number | string, host?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string, host?: string, listeningListener?: () => void): this;
  listen(port?: number | string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string, listeningListener?: () => void): this;
  listen(options: ListenOptions, listeningListener?: () => void): this;
  listen(listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    let opts: ListenOptions;
    let rest: unknown[];
    const a0 = args[0];
    if (a0 !== null && typeof a0 === 'object') {
      opts = { ...(a0 as ListenOptions) };
      rest = args.slice(1);
    } else if (typeof a0 === 'function' || a0 === undefined || a0 === null) {
      opts = {};
      rest = args.slice(a0 === undefined || a0 === null ? 1 : 0);
    } else {
      opts = { port: a0 as number };
      rest = args.slice(1);
      if (typeof rest[0] === 'string') {
        opts.host = rest[0];
        rest = rest.slice(1);
      }
      if (typeof rest[0] === 'number') {
        opts.backlog = rest[0];
        rest = rest.slice(1);
      }
    }
    const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
    const signal = opts.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        process.nextTick(() => this.close());
        return this;
      }
      signal.addEventListener('abort', () => this.close(), { once: true });
    }
    if (opts.path !== undefined) throw codeError('ERR_INVALID_ARG_VALUE', 'netstack: IPC paths are not supported', TypeError);
    if (this.listening) throw codeError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    const port = validPort(opts.port ?? 0, true);
    if (cb) this.once('listening', cb);
    this.#closeRequested = false;

    const host = opts.host === undefined || opts.host === null || opts.host === '' ? undefined : String(opts.host);
    let plan: Array<{ family: 4 | 6; address: string }>;
    if (host === undefined || (host === '::' && !opts.ipv6Only)) {
      plan = [
        { family: 6, address: '::' },
        { family: 4, address: '0.0.0.0' },
      ];
    } else {
      const f = isIP(host);
      if (f === 0) {
        const err = notFound(host);
        process.nextTick(() => this.emit('error', err));
        return this;
      }
      plan = [{ family: f, address: host }];
    }
    const backlog = opts.backlog;
    // With port 0 on both families, the second must take the first's port; retry a few times
    // if that port is taken on the other family.
    const attempts = port === 0 && plan.length > 1 ? 8 : 1;
    let lastErr: NodeStyleError | undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const opened: CoreTcpListener[] = [];
      let p = port;
      lastErr = undefined;
      for (const step of plan) {
        try {
          const l = this.#stack.tcp.listen(
            { family: step.family, address: step.address, port: p, ...(backlog !== undefined ? { backlog } : {}) },
            (core) => this.#onConnection(core),
          );
          opened.push(l);
          p = l.port;
        } catch (e) {
          lastErr = isCoreError(e) ? uvErrorWithHostPort(e.code, 'listen', step.address, p) : toNodeError(e, 'listen');
          break;
        }
      }
      if (!lastErr) {
        this.#listeners = opened;
        const first = plan[0]!;
        this.#address = { address: first.address, family: familyName(first.family), port: opened[0]!.port };
        process.nextTick(() => {
          if (this.listening) this.emit('listening');
        });
        return this;
      }
      for (const l of opened) l.close();
      if (lastErr.code !== 'EADDRINUSE') break;
    }
    const err = lastErr!;
    process.nextTick(() => this.emit('error', err));
    return this;
  }

  #onConnection(core: CoreTcpSocket): void {
    if (!this.listening) {
      core.abort();
      return;
    }
    if (this.maxConnections !== undefined && this.#connections.size >= this.maxConnections) {
      const data = {
        localAddress: core.localAddress,
        localPort: core.localPort,
        localFamily: familyName(core.family),
        remoteAddress: core.remoteAddress,
        remotePort: core.remotePort,
        remoteFamily: familyName(core.family),
      };
      core.close();
      guarded(() => this.emit('drop', data));
      return;
    }
    const o = this.#opts;
    const sockOpts: AcceptOptions = { core, server: this, allowHalfOpen: Boolean(o.allowHalfOpen), pauseOnConnect: Boolean(o.pauseOnConnect) };
    if (o.highWaterMark !== undefined) sockOpts.highWaterMark = o.highWaterMark;
    if (o.resetOnDestroy !== undefined) sockOpts.resetOnDestroy = o.resetOnDestroy;
    const s = new Socket(sockOpts);
    if (o.noDelay) s.setNoDelay(true);
    if (o.keepAlive) s.setKeepAlive(true, o.keepAliveInitialDelay ?? 0);
    this.#connections.add(s);
    s.once('close', () => {
      this.#connections.delete(s);
      if (this.#closeRequested) this.#emitCloseIfDrained();
    });
    guarded(() => this.emit('connection', s));
  }

  address(): AddressInfo | null {
    return this.listening && this.#address ? { ...this.#address } : null;
  }

  /**
   * Stops accepting. 'close' (and `cb`) follow once every accepted connection has closed. If
   * the server was not listening, `cb` gets ERR_SERVER_NOT_RUNNING (as in Node).
   */
  close(cb?: (err?: Error) => void): this {
    if (typeof cb === 'function') {
      if (!this.listening) {
        this.once('close', () => cb(codeError('ERR_SERVER_NOT_RUNNING', 'Server is not running.')));
      } else {
        this.once('close', () => cb());
      }
    }
    for (const l of this.#listeners) l.close();
    this.#listeners = [];
    this.#closeRequested = true;
    this.#emitCloseIfDrained();
    return this;
  }

  #emitCloseIfDrained(): void {
    if (this.listening || this.#connections.size > 0) return;
    process.nextTick(() => this.emit('close'));
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.#connections.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** The stack this server listens on. */
  get netStack(): NetStack {
    return this.#stack;
  }
}

/** Creates a TCP server on `stack`, like `net.createServer`. */
export function createServer(stack: NetStack, connectionListener?: (socket: Socket) => void): Server;
export function createServer(stack: NetStack, options?: ServerOptions, connectionListener?: (socket: Socket) => void): Server;
export function createServer(stack: NetStack, a?: unknown, b?: unknown): Server {
  if (typeof a === 'function') return new Server(stack, {}, a as (s: Socket) => void);
  return new Server(stack, (a as ServerOptions | undefined) ?? {}, b as ((s: Socket) => void) | undefined);
}

// ---- http glue ----------------------------------------------------------------------------

/**
 * Serves Node's `http.Server` (or https/any server taking 'connection') over the stack: a
 * netstack Server whose accepted sockets are handed to `httpServer` via
 * `emit('connection', socket)`. It also emits 'listening' on `httpServer` (which starts Node's
 * headers/request timeout tracking and makes closeIdleConnections() work) and forwards listen
 * errors to `httpServer`'s 'error'. Closing either side closes both: the returned server's
 * close(cb) stops accepting, closes idle keep-alive connections and calls back when every
 * connection has ended; `httpServer.close()` does the same (its own callback gets
 * ERR_SERVER_NOT_RUNNING, as for any server that did not listen itself — use the returned
 * server's close(cb) to wait).
 */
export function serveHttp(
  stack: NetStack,
  httpServer: http.Server | EventEmitter,
  port: number | string | ListenOptions,
  listeningListener?: () => void,
): Server {
  // The options Node's http.Server passes to net.Server (it keeps them as properties;
  // keepAliveInitialDelay in seconds). Note allowHalfOpen: true — http handles the FIN itself.
  const h = httpServer as { allowHalfOpen?: boolean; noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number; pauseOnConnect?: boolean };
  const server = createServer(stack, {
    allowHalfOpen: h.allowHalfOpen ?? true,
    noDelay: h.noDelay ?? true,
    keepAlive: h.keepAlive ?? false,
    keepAliveInitialDelay: (h.keepAliveInitialDelay ?? 0) * 1000,
    pauseOnConnect: h.pauseOnConnect ?? false,
    resetOnDestroy: false,
  });
  server.on('connection', (s: Socket) => httpServer.emit('connection', s));
  server.on('error', (e: Error) => httpServer.emit('error', e));
  server.on('listening', () => httpServer.emit('listening'));
  let closing = false;
  const origClose = server.close.bind(server);
  const closeHttp = (): void => {
    const h = httpServer as Partial<http.Server>;
    if (typeof h.closeIdleConnections === 'function') {
      try {
        h.closeIdleConnections();
      } catch {
        // not tracking connections (never emitted 'listening')
      }
    }
  };
  server.close = (cb?: (err?: Error) => void) => {
    origClose(cb);
    if (!closing) {
      closing = true;
      if (httpServer instanceof http.Server) {
        // Clears Node's connection-checking interval and closes idle connections; emits
        // 'close' on the http server.
        httpServer.close();
      } else {
        closeHttp();
      }
    }
    return server;
  };
  httpServer.once('close', () => {
    if (!closing) {
      closing = true;
      origClose();
    }
  });
  if (listeningListener) server.once('listening', listeningListener);
  if (typeof port === 'object' && port !== null) server.listen(port);
  else server.listen(port);
  return server;
}

/**
 * A `createConnection` function for `http.request({ createConnection })`: connects over
 * `stack` to the request's host/port. (Without an agent, one connection per request.)
 */
export function httpConnector(stack: NetStack): (options: http.ClientRequestArgs, oncreate: (err: Error | null, socket: Duplex) => void) => Socket {
  return (options) => createConnection(stack, { ...connectOptionsFromHttp(options), resetOnDestroy: false });
}

function connectOptionsFromHttp(o: http.ClientRequestArgs & { keepAliveInitialDelay?: number; noDelay?: boolean; keepAlive?: boolean }): NetConnectOpts {
  const c: NetConnectOpts = {
    port: (o.port ?? o.defaultPort ?? 80) as number | string,
    host: (o.hostname ?? o.host ?? undefined) as string | undefined,
  };
  if (c.host === undefined) delete c.host;
  if (o.localAddress !== undefined) c.localAddress = o.localAddress;
  if (typeof o.family === 'number') c.family = o.family;
  c.noDelay = o.noDelay ?? true; // as Node's http.Agent
  if (o.keepAlive !== undefined) c.keepAlive = o.keepAlive;
  if (o.keepAliveInitialDelay !== undefined) c.keepAliveInitialDelay = o.keepAliveInitialDelay;
  // Hostnames in brackets ('[fd00::2]') as URLs give them.
  if (c.host && c.host.startsWith('[') && c.host.endsWith(']')) c.host = c.host.slice(1, -1);
  return c;
}

/**
 * An `http.Agent` whose connections go over `stack`: keep-alive pooling, maxSockets etc. work
 * as with Node's agent. `new HttpAgent(stack, { keepAlive: true, maxSockets: 1 })`.
 */
export class HttpAgent extends http.Agent {
  readonly netStack: NetStack;
  constructor(stack: NetStack, options?: http.AgentOptions) {
    super(options);
    this.netStack = stack;
  }

  // Node's Agent calls this.createConnection(options, oncreate) and accepts a returned socket.
  override createConnection(options: http.ClientRequestArgs, _cb?: (err: Error | null, stream: Duplex) => void): Socket {
    return createConnection(this.netStack, { ...connectOptionsFromHttp(options), resetOnDestroy: false });
  }
}
