/**
 * One storage node under test, whatever the system: the add, fetch and
 * "3 copies" measurements are written once against this interface and run
 * alike on shoal (daemons driven over their HTTP API) and Helia (a node per
 * worker process).
 */
import type { GcCounts } from './gc.ts'
import type { Availability, BenchContext, System } from './runner.ts'

export interface AddResult {
  cid: string
  /** from the start of the add to its answer */
  seconds: number
}

export interface CatResult {
  bytes: number
  seconds: number
  /** time to the first byte of file content */
  ttfbMs: number
}

export interface StoragePeer {
  readonly name: string
  /** the OS process whose CPU and memory are measured */
  readonly pid: number
  readonly peerId: string
  /** a dialable multiaddr ending in /p2p/PEER_ID */
  readonly address: string
  add(file: string, size: number, timeoutMs: number): Promise<AddResult>
  cat(cid: string, timeoutMs: number): Promise<CatResult>
  stop(): Promise<void>
  /** the process's garbage collections so far, where the system counts them (shoal daemons: --trace-gc) */
  gcCounts?(): GcCounts | undefined
}

export interface PeerSystem {
  system: Exclude<System, 'reference'>
  /** a second configuration of the same system (an A/B): its measurements' ids end in `-variant` */
  variant?: string
  label: string
  /** whether the system can add and cat at all (checked once per benchmark) */
  availability(ctx: BenchContext): Promise<Availability>
  /** start a node in its own process; `join` is a running node to connect to (and wait for) */
  start(ctx: BenchContext, name: string, join?: StoragePeer): Promise<StoragePeer>
  /** how the numbers of this system were obtained */
  notes: string
}

/** `address` with its /p2p/ suffix, whether or not the node listed it with one. */
export function withPeerId (address: string, peerId: string): string {
  return address.includes('/p2p/') ? address : `${address}/p2p/${peerId}`
}

/** A loopback TCP address of the node, for the others to dial. */
export function pickLoopback (addresses: string[], peerId: string): string {
  const address = addresses.find(a => a.startsWith('/ip4/127.0.0.1/tcp/')) ?? addresses[0]
  if (address == null) throw new Error(`node ${peerId} listens on no address`)
  return withPeerId(address, peerId)
}

/** A fetch that receives nothing for this long has stalled: it fails rather than wait for its deadline. */
export const STALL_MS = 30_000

/** A deadline for moving `bytes` at no less than `minMBps`, plus `slackMs`. */
export function deadline (bytes: number, minMBps = 2, slackMs = 60_000): number {
  return Math.round(bytes / 1e6 / minMBps * 1000 + slackMs)
}
