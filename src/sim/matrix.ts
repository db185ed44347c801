/**
 * The TCP throughput matrix: goodput (Mbit/s of virtual time) of one upload over loss rates ×
 * receive-buffer sizes, at a fixed delay and bandwidth. Deterministic, so it is kept as a
 * snapshot (test/sim/throughput-matrix.json) and any change in TCP behaviour shows up as a diff.
 * Part of the core: no Node imports.
 */
import { runTcpCase, type TcpCaseParams } from './tcp-case.js';

export const MATRIX_LOSS = [0, 0.001, 0.01, 0.03, 0.1] as const;
export const MATRIX_RCVBUF = [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024] as const;

/** The fixed part of every cell. */
export const MATRIX_BASE: Omit<TcpCaseParams, 'loss' | 'rcvBuf'> = {
  seed: 1,
  bytes: 2 * 1024 * 1024,
  mode: 'upload',
  kind: 'ip',
  family: 4,
  mtu: 1500,
  delayMs: 10,
  bandwidthBps: 100e6,
  queueLimit: 200,
  reorder: 0,
  duplicate: 0,
  corrupt: 0,
  sndBuf: 4 * 1024 * 1024,
  cc: 'default',
  pauseMs: 0,
  outageMs: 0,
  maxTimeMs: 0,
};

export interface MatrixCell {
  loss: number;
  rcvBuf: number;
  goodputMbps: number;
  transferMs: number;
  retransmits: number;
  ok: boolean;
}

export interface ThroughputMatrix {
  description: string;
  base: typeof MATRIX_BASE;
  cells: MatrixCell[];
}

const round = (x: number, d: number): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

export function throughputMatrix(): ThroughputMatrix {
  const cells: MatrixCell[] = [];
  for (const loss of MATRIX_LOSS) {
    for (const rcvBuf of MATRIX_RCVBUF) {
      const r = runTcpCase({ ...MATRIX_BASE, loss, rcvBuf });
      cells.push({
        loss,
        rcvBuf,
        goodputMbps: round(r.goodputMbps, 3),
        transferMs: round(r.transferMs, 3),
        retransmits: r.client.retransmits,
        ok: r.ok,
      });
    }
  }
  return {
    description:
      'TCP upload goodput in Mbit/s of virtual time (2 MiB, 10 ms one-way delay, 100 Mbit/s, 200-frame queues) over loss x receive buffer. Regenerate: UPDATE_SNAPSHOTS=1 npm test',
    base: MATRIX_BASE,
    cells,
  };
}

/** A text table of a matrix (rows: loss; columns: receive buffer). */
export function formatMatrix(m: ThroughputMatrix): string {
  const kib = (n: number): string => (n >= 1024 * 1024 ? `${n / 1024 / 1024} MiB` : `${n / 1024} KiB`);
  const bufs = [...new Set(m.cells.map((c) => c.rcvBuf))];
  const losses = [...new Set(m.cells.map((c) => c.loss))];
  const lines = ['loss \\ rcvbuf'.padEnd(14) + bufs.map((b) => kib(b).padStart(12)).join('')];
  for (const l of losses) {
    let line = `${(l * 100).toFixed(1)} %`.padEnd(14);
    for (const b of bufs) {
      const c = m.cells.find((x) => x.loss === l && x.rcvBuf === b)!;
      line += (c.ok ? c.goodputMbps.toFixed(2) : 'FAIL').padStart(12);
    }
    lines.push(line);
  }
  return lines.join('\n');
}
