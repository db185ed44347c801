/** Errors of the socket APIs (UDP and TCP): an errno-style `code` (EADDRINUSE, ECONNRESET, ...). */
export class SocketError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly syscall = '',
  ) {
    super(message);
    this.name = 'SocketError';
  }
}
