/**
 * netstack's public API.
 *
 * Core (no Node imports): Stack, clocks and random sources, counters, timers, in-memory links,
 * wire helpers for addresses. Node edge: NodeDriver (one host timer), createSocket (dgram-style
 * sockets), createServer/createConnection (net-style TCP sockets; Node's http runs over them), TUN/TAP devices (the native addon is loaded lazily, on first openTun).
 */
export { Stack, DEFAULT_LIMITS, NetInterface, type StackOptions, type InterfaceConfig, type StackLimits } from './stack.js';
export { VirtualClock, SeededRandom, type Clock, type RandomSource } from './core/clock.js';
export { Counters } from './core/counters.js';
export { TimerQueue, Timer, type TimerCallback } from './core/timers.js';
export type { Link, LinkKind, LinkReceiver } from './link/link.js';
export { MemoryLink, type MemoryLinkOptions } from './link/memory.js';
export {
  UdpLayer,
  UdpSocket,
  SocketError,
  type Family,
  type RemoteInfo as UdpRemoteInfo,
  UDP_MAX_PAYLOAD_V4,
  UDP_MAX_PAYLOAD_V6,
} from './transport/udp.js';
export type { ProtocolHandler4, ProtocolHandler6, RxInfo, IcmpErrorHandler } from './ip/context.js';
export type { NeighborState } from './ip/neighbors.js';
export { parseIpv4, formatIpv4, parseIpv6, formatIpv6, parseMac, formatMac } from './wire/address.js';

// Node edge
export { NodeDriver } from './node/driver.js';
export {
  createSocket,
  Socket,
  type SocketType,
  type SocketOptions,
  type RemoteInfo,
  type AddressInfo,
  type BindOptions,
  type MessageListener,
  type SendCallback,
} from './api/dgram.js';
export * as net from './api/net.js';
export {
  createServer,
  createConnection,
  connect,
  serveHttp,
  httpConnector,
  HttpAgent,
  isIP,
  isIPv4,
  isIPv6,
  Server as NetServer,
  Socket as NetSocket,
  type NetStack,
  type ServerOptions as NetServerOptions,
  type ListenOptions,
  type NetConnectOpts,
  type TcpSocketConnectOptions,
  type SocketOptions as NetSocketOptions,
} from './api/net.js';
export { TcpLayer, DEFAULT_TCP_CONFIG, type TcpLimits, type TcpDefaults } from './transport/tcp/layer.js';
export { TcpSocket, type TcpSocketOptions } from './transport/tcp/socket.js';
export { nodeClock, cryptoRandom } from './node/runtime.js';
export { openTun, configureDevice, deleteDevice, TunLink, type TunOptions } from './node/tun.js';
