/**
 * The same-run baseline of the HTTP measure: the very request handler `netstack host` serves
 * (src/cli/services.ts, httpHandler: `/` a small page, `/bytes/N` the chargen pattern), in Node's
 * own `http` server with the same options, over the kernel's TCP.
 *
 *   node dist/bench/http-server.js ADDRESS PORT
 *
 * Prints `ready` once it listens; runs until SIGTERM/SIGINT.
 */
import * as http from 'node:http';
import { httpHandler } from '../src/cli/services.js';

const [address, port] = process.argv.slice(2);
if (address === undefined || port === undefined || !/^\d+$/.test(port)) {
  process.stderr.write('usage: http-server ADDRESS PORT\n');
  process.exit(2);
}
const server = http.createServer({ keepAlive: true }, httpHandler);
server.on('clientError', (err: Error & { code?: string }, sock) => {
  if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else sock.destroy();
});
server.listen(Number(port), address, () => process.stdout.write('ready\n'));
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
