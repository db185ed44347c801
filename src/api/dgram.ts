/**
 * A `dgram.Socket`-shaped API over the stack's UDP sockets (Node edge: uses node:events and
 * Buffer). Modelled on Node's dgram module:
 *
 *   const s = createSocket(stack, 'udp4', (msg, rinfo) => ...);
 *   s.bind(8000, () => ...);          // or bind({ port, address }, cb)
 *   s.send(msg, port, address, cb);   // msg: Buffer | Uint8Array | string | array of them
 *
 * Connected sockets: connect(port, address, cb), disconnect(), remoteAddress(); ICMP errors about
 * their datagrams (port unreachable → ECONNREFUSED, ...) are emitted as 'error' like libuv does.
 *
 * Events: 'listening', 'connect', 'message' (msg: Buffer, rinfo: {address, family: 'IPv4'|'IPv6', port,
 * size}), 'error', 'close'. Errors are Node-style `Error`s with `code`, `errno` (negative, as
 * libuv), `syscall`, and `address`/`port` where Node sets them. As in Node, `bind` and `send`
 * complete asynchronously (callbacks and events on a later tick), a send on an unbound socket
 * binds it implicitly to a random port, and argument errors are thrown synchronously
 * (ERR_SOCKET_BAD_PORT, ERR_SOCKET_DGRAM_NOT_RUNNING, ERR_SOCKET_ALREADY_BOUND, ...).
 */
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import type { Stack } from '../stack.js';
import { SocketError, type UdpSocket } from '../transport/udp.js';

export type SocketType = 'udp4' | 'udp6';

export interface SocketOptions {
  type: SocketType;
  reuseAddr?: boolean;
  /** Accepted for compatibility; IPv6 sockets are always IPv6-only here. */
  ipv6Only?: boolean;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
}

export type MessageListener = (msg: Buffer, rinfo: RemoteInfo) => void;
export type SendCallback = (error: Error | null, bytes?: number) => void;
type Msg = Buffer | Uint8Array | string | ReadonlyArray<Buffer | Uint8Array | string>;

/** A Node-style error: `code`, negative `errno`, `syscall`, optional address/port. */
export interface NodeStyleError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
}

function errnoOf(code: string): number | undefined {
  const v = (osConstants.errno as Record<string, number>)[code];
  return v === undefined ? undefined : -v;
}

/** An error shaped like Node's UVException: "bind EADDRINUSE 0.0.0.0:8000". */
export function systemError(code: string, syscall: string, address?: string, port?: number): NodeStyleError {
  let msg = `${syscall} ${code}`;
  if (address !== undefined) msg += ` ${address}${port !== undefined ? ':' + port : ''}`;
  const e = new Error(msg) as NodeStyleError;
  e.code = code;
  const errno = errnoOf(code);
  if (errno !== undefined) e.errno = errno;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined) e.port = port;
  return e;
}

/** An error shaped like Node's internal ERR_* errors. */
function codeError(code: string, message: string, Kind: ErrorConstructor = Error): NodeStyleError {
  const e = new Kind(message) as NodeStyleError;
  e.code = code;
  return e;
}

function validPort(p: unknown, allowZero: boolean): number {
  let n: number;
  if (typeof p === 'number') n = p;
  else if (typeof p === 'string' && p.trim() !== '' && /^\d+$/.test(p.trim())) n = Number(p);
  else throw codeError('ERR_SOCKET_BAD_PORT', `Port should be >= 0 and < 65536. Received ${String(p)}.`, RangeError);
  if (!Number.isInteger(n) || n < 0 || n > 65535 || (!allowZero && n === 0))
    throw codeError(
      'ERR_SOCKET_BAD_PORT',
      `Port should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${String(p)}.`,
      RangeError,
    );
  return n;
}

type State = 'unbound' | 'binding' | 'bound' | 'closed';

export class Socket extends EventEmitter {
  readonly type: SocketType;
  private readonly core: UdpSocket;
  private state: State = 'unbound';

  constructor(
    private readonly stack: Stack,
    opts: SocketOptions,
  ) {
    super();
    if (opts.type !== 'udp4' && opts.type !== 'udp6') {
      throw codeError('ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6', TypeError);
    }
    this.type = opts.type;
    this.core = stack.udp.open(opts.type === 'udp4' ? 4 : 6, { reuseAddr: opts.reuseAddr ?? false });
    this.core.onMessageView = (view, address, port) => this.deliver(view, address, port);
    // ICMP errors about datagrams a connected socket sent, as Node/libuv report them.
    this.core.onError = (code) => {
      const err = systemError(code, 'recvmsg');
      process.nextTick(() => this.emit('error', err));
    };
  }

  private get family(): 'IPv4' | 'IPv6' {
    return this.type === 'udp4' ? 'IPv4' : 'IPv6';
  }

  /** A datagram: `view` lies in the received frame (valid during this call), so it is copied. */
  private deliver(view: Uint8Array, address: string, port: number): void {
    const msg = copyOut(view);
    const rinfo: RemoteInfo = { address, family: this.type === 'udp4' ? 'IPv4' : 'IPv6', port, size: view.length };
    try {
      this.emit('message', msg, rinfo);
    } catch (e) {
      // Like Node, an exception in a 'message' listener is an uncaught exception — but not
      // inside the stack's receive path.
      process.nextTick(() => {
        throw e;
      });
    }
  }

  private healthCheck(): void {
    if (this.state === 'closed') throw codeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }

  bind(port?: number | BindOptions | (() => void), address?: string | (() => void), callback?: () => void): this {
    this.healthCheck();
    let p: unknown = 0;
    let addr: string | undefined;
    let cb: (() => void) | undefined;
    if (typeof port === 'function') {
      cb = port;
    } else if (port !== null && typeof port === 'object') {
      p = port.port ?? 0;
      addr = port.address;
      if (typeof address === 'function') cb = address;
    } else {
      p = port ?? 0;
      if (typeof address === 'function') cb = address;
      else {
        addr = address;
        cb = callback;
      }
    }
    if (this.state !== 'unbound') throw codeError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    const portNum = validPort(p, true);
    if (addr === '') addr = undefined;
    if (addr === 'localhost') addr = this.type === 'udp4' ? '127.0.0.1' : '::1';
    this.state = 'binding';
    if (cb) this.once('listening', cb);
    try {
      this.core.bind(addr, portNum);
    } catch (e) {
      this.state = 'unbound';
      if (cb) this.removeListener('listening', cb);
      const err = this.toNodeError(e, 'bind', addr ?? (this.type === 'udp4' ? '0.0.0.0' : '::'), portNum);
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    this.state = 'bound';
    process.nextTick(() => {
      if (this.state === 'bound') this.emit('listening');
    });
    return this;
  }

  /**
   * send(msg, [offset, length,] port, [address,] [callback]). Errors go to the callback, or
   * are emitted as 'error' without one.
   */
  send(msg: Msg, callback?: SendCallback): void;
  send(msg: Msg, offset: number, length: number, callback?: SendCallback): void;
  send(msg: Msg, port: number | string, address?: string, callback?: SendCallback): void;
  send(msg: Msg, port: number | string, callback?: SendCallback): void;
  send(msg: Msg, offset: number, length: number, port: number | string, address?: string, callback?: SendCallback): void;
  send(msg: Msg, offset: number, length: number, port: number | string, callback?: SendCallback): void;
  send(msg: Msg, a0?: unknown, a1?: unknown, a2?: unknown, a3?: unknown, a4?: unknown): void {
    // Node's own disambiguation (lib/dgram.js Socket.prototype.send). (Named parameters rather
    // than a rest array: no allocation per datagram.)
    let offset: number | undefined;
    let length: number | undefined;
    let port: unknown;
    let address: unknown;
    let cb: unknown;
    const connected = this.core.connected;
    if (!connected) {
      if (a3 || (a2 && typeof a2 !== 'function')) {
        offset = a0 as number;
        length = a1 as number;
        port = a2;
        address = a3;
        cb = a4;
      } else {
        port = a0;
        address = a1;
        cb = a2;
      }
    } else {
      if (typeof a1 === 'number') {
        offset = a0 as number;
        length = a1;
        if (typeof a2 === 'function') cb = a2;
        else {
          port = a2;
          address = a3;
          cb = a4;
        }
      } else {
        cb = a0;
        port = a1;
        address = a2;
      }
      if (port || address) throw codeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    }
    if (typeof address === 'function') {
      cb = address;
      address = undefined;
    }
    if (cb !== undefined && typeof cb !== 'function') cb = undefined;
    this.healthCheck();
    if (connected) {
      const data = toBytes(msg, offset, length);
      const f = cb as SendCallback | undefined;
      let err: NodeStyleError | null = null;
      const r = this.core.remote()!;
      try {
        this.core.send(data);
      } catch (e) {
        err = this.toNodeError(e, 'send', r.address, r.port);
      }
      this.completeSend(f, err, data.length);
      return;
    }
    const portNum = validPort(port, false);
    if (address === undefined || address === null || address === '') address = this.type === 'udp4' ? '127.0.0.1' : '::1';
    if (address === 'localhost') address = this.type === 'udp4' ? '127.0.0.1' : '::1';
    if (typeof address !== 'string')
      throw codeError('ERR_INVALID_ARG_TYPE', 'The "address" argument must be of type string', TypeError);
    const data = toBytes(msg, offset, length);
    const dst: string = address;
    const wasUnbound = this.state === 'unbound';
    if (wasUnbound) {
      // Implicit bind to a random port (Node binds to 0 on first send).
      this.bind(0);
      if (this.state !== 'bound') {
        // The bind failure is emitted as 'error' by bind(); report to cb as well.
        if (typeof cb === 'function') {
          const f = cb as SendCallback;
          const err = systemError('EADDRINUSE', 'bind');
          process.nextTick(() => f(err));
        }
        return;
      }
    }
    let err: NodeStyleError | null = null;
    try {
      this.core.sendTo(data, dst, portNum);
    } catch (e) {
      err = this.toNodeError(e, 'send', dst, portNum);
    }
    const n = data.length;
    const f = cb as SendCallback | undefined;
    this.completeSend(f, err, n);
  }

  /** On a later tick, as Node: the callback with (err) or (null, bytes), or 'error' without one. */
  private completeSend(f: SendCallback | undefined, err: NodeStyleError | null, n: number): void {
    if (f) process.nextTick(f, err, err ? undefined : n);
    else if (err) process.nextTick(emitError, this, err);
  }

  /**
   * connect(port, [address,] [callback]): associates the socket with a peer ('connect' event
   * on a later tick; errors as 'error'). Binds implicitly if needed.
   */
  connect(port: number, address?: string | (() => void), callback?: () => void): void {
    let addr: string | undefined;
    let cb = callback;
    if (typeof address === 'function') cb = address;
    else addr = address;
    const portNum = validPort(port, false);
    this.healthCheck();
    if (this.core.connected) throw codeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    if (addr === undefined || addr === '' || addr === 'localhost') addr = this.type === 'udp4' ? '127.0.0.1' : '::1';
    if (cb) this.once('connect', cb);
    if (this.state === 'unbound') {
      this.bind(0);
      if ((this.state as State) !== 'bound') return;
    }
    try {
      this.core.connect(addr, portNum);
    } catch (e) {
      if (cb) this.removeListener('connect', cb);
      const err = this.toNodeError(e, 'connect', addr, portNum);
      process.nextTick(() => this.emit('error', err));
      return;
    }
    process.nextTick(() => this.emit('connect'));
  }

  disconnect(): void {
    this.healthCheck();
    if (!this.core.connected) throw codeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.core.disconnect();
  }

  remoteAddress(): AddressInfo {
    this.healthCheck();
    const r = this.core.remote();
    if (!r) throw codeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: r.address, family: this.family, port: r.port };
  }

  address(): AddressInfo {
    this.healthCheck();
    const a = this.core.address();
    if (!a || this.state !== 'bound') throw systemError('EBADF', 'getsockname');
    return { address: a.address, family: this.family, port: a.port };
  }

  close(callback?: () => void): this {
    this.healthCheck();
    if (typeof callback === 'function') this.once('close', callback);
    this.state = 'closed';
    this.core.close();
    process.nextTick(() => this.emit('close'));
    return this;
  }

  /** 1..255 (Node throws EINVAL otherwise). */
  setTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw codeError('ERR_INVALID_ARG_TYPE', 'The "ttl" argument must be of type number', TypeError);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw systemError('EINVAL', 'setTTL');
    this.healthCheck();
    this.core.ttl = ttl;
    return ttl;
  }

  setBroadcast(flag: boolean): void {
    this.healthCheck();
    this.core.broadcast = !!flag;
  }

  /** Sets DF / IPV6_DONTFRAG (not in Node's API; over-MTU sends then fail with EMSGSIZE). */
  setDontFragment(flag: boolean): void {
    this.healthCheck();
    this.core.dontFragment = !!flag;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** Reports errors the way Node would (UVException-like). */
  private toNodeError(e: unknown, syscall: string, address?: string, port?: number): NodeStyleError {
    if (e instanceof SocketError) return systemError(e.code, syscall, address, port);
    if (e instanceof Error) return e as NodeStyleError;
    return codeError('ERR_INTERNAL_ASSERTION', String(e));
  }

  /** The stack this socket lives on. */
  get netStack(): Stack {
    return this.stack;
  }
}

/**
 * Received datagrams are copied into slices of a shared slab rather than an ArrayBuffer each (as
 * Node's Buffer pool, larger: one allocation per ~900 small datagrams). A slice a listener keeps
 * keeps its slab alive, exactly as a pooled Buffer does; large datagrams get their own buffer.
 */
const SLAB_SIZE = 64 * 1024;
const SLAB_MAX_COPY = 4096;
let slab = new ArrayBuffer(0);
let slabUsed = 0;

function copyOut(view: Uint8Array): Buffer {
  const n = view.length;
  if (n > SLAB_MAX_COPY) return Buffer.from(view);
  if (slabUsed + n > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const msg = Buffer.from(slab, slabUsed, n);
  msg.set(view);
  // 8-byte aligned, as Node's pool does.
  slabUsed = (slabUsed + n + 7) & ~7;
  return msg;
}

function emitError(s: Socket, err: Error): void {
  s.emit('error', err);
}

function toBytes(msg: Msg, offset?: number, length?: number): Uint8Array {
  if (Array.isArray(msg)) {
    const parts = (msg as ReadonlyArray<Buffer | Uint8Array | string>).map((m) => one(m));
    return Buffer.concat(parts);
  }
  let b = one(msg as Buffer | Uint8Array | string);
  if (offset !== undefined || length !== undefined) {
    const off = offset ?? 0;
    const len = length ?? b.length - off;
    if (off < 0 || off > b.length) throw codeError('ERR_OUT_OF_RANGE', `The value of "offset" is out of range. Received ${off}`, RangeError);
    if (len < 0 || off + len > b.length) throw codeError('ERR_OUT_OF_RANGE', `The value of "length" is out of range. Received ${len}`, RangeError);
    b = b.subarray(off, off + len);
  }
  return b;
}

function one(m: Buffer | Uint8Array | string): Uint8Array {
  if (typeof m === 'string') return Buffer.from(m);
  if (m instanceof Uint8Array) return m;
  throw codeError('ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be of type string or an instance of Buffer or Uint8Array', TypeError);
}

/** Creates a UDP socket on `stack`, like `dgram.createSocket`. */
export function createSocket(stack: Stack, type: SocketType | SocketOptions, listener?: MessageListener): Socket {
  const opts: SocketOptions = typeof type === 'string' ? { type } : type;
  const s = new Socket(stack, opts);
  if (listener) s.on('message', listener);
  return s;
}
