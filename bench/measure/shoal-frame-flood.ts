/**
 * A flood of half-sent frames: peers that open block-exchange streams to a
 * daemon, announce a 4 MiB frame on each, send all of it but the last byte,
 * and hold. The daemon's RSS before, at its peak during the flood, and
 * after the peers went away; how many of the flood's streams the daemon
 * cut; and whether it kept answering meanwhile. The bound this is held to
 * (issue 11): the flood raises RSS by at most FLOOD_BOUND_MB.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import * as varint from 'uint8-varint'
import { createNetwork } from '../../src/net/libp2p.ts'
import type { ShoalLibp2p } from '../../src/net/libp2p.ts'
import { BLOCK_PROTOCOL, DEFAULT_BLOCK_LIMITS } from '../../src/protocols/block-exchange.ts'
import { readMemory, resetPeakRss, sleep } from '../lib/proc.ts'
import type { Measurement } from '../lib/runner.ts'
import { ShoalDaemon, shoal } from '../lib/shoal-peer.ts'

const PEERS = 11
const STREAMS_PER_PEER = 8
const FLOOD_BOUND_MB = 150
const MB = 1e6

export const shoalFrameFlood: Measurement = {
  id: 'shoal-frame-flood',
  title: 'Half-sent frames from 11 peers (shoal)',
  system: 'shoal',
  group: 'limits',
  repeat: 'once',
  metrics: [
    { name: 'offeredMB', label: 'bytes of half-sent frames the peers sent or tried to', unit: 'MB' },
    { name: 'rssBeforeMB', label: 'daemon RSS before', unit: 'MB' },
    { name: 'rssPeakMB', label: 'daemon peak RSS during the flood', unit: 'MB' },
    { name: 'raiseMB', label: `peak raise (bound: ${FLOOD_BOUND_MB} MB)`, unit: 'MB' },
    { name: 'rssAfterMB', label: 'daemon RSS 5 s after the peers left', unit: 'MB' },
    { name: 'streamsCut', label: `flood streams the daemon cut (of ${PEERS * STREAMS_PER_PEER})`, unit: '', digits: 0 },
    { name: 'healthMs', label: 'node.health answer time during the flood', unit: 'ms', digits: 0 }
  ],
  description: `One daemon (public network, so that outsiders can connect, the worst case); ${PEERS} libp2p peers in the bench process (distinct identities) each open ${STREAMS_PER_PEER} /shoal/block streams (the per-connection limit) and on each send a frame header announcing ${DEFAULT_BLOCK_LIMITS.maxFrameBytes} bytes and then all of it but the last byte, and hold. The daemon's RSS is read from /proc (peak: VmHWM, reset before the flood); after 10 s the peers stop. Flow control (src/protocols/flow.ts) counts incomplete frames at the size their header announces, 4 per peer and 16 in all (64 MiB of block frames), and cuts a stream whose frame goes past that at its header; what a cut stream still carries is at most its initial yamux window (256 KiB). The target is a raise under ${FLOOD_BOUND_MB} MB.`,
  availability: async ctx => await shoal.availability(ctx),
  timeoutMs: () => 240_000,
  async run (ctx) {
    const daemon = await ShoalDaemon.start(ctx, 'flood-target', undefined, 30_000, { replicas: 1, quorum: 1 })
    const peers: ShoalLibp2p[] = []
    try {
      await sleep(2000)
      const before = readMemory(daemon.pid).rss
      resetPeakRss(daemon.pid)
      let cut = 0
      let offered = 0
      const streams: Stream[] = []
      const frameLength = DEFAULT_BLOCK_LIMITS.maxFrameBytes
      const body = new Uint8Array(frameLength - 1)
      const target = multiaddr(daemon.address)
      for (let i = 0; i < PEERS; i++) {
        const node = await createNetwork({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
        await node.start()
        peers.push(node)
      }
      await Promise.all(peers.map(async node => {
        for (let s = 0; s < STREAMS_PER_PEER; s++) {
          const stream = await node.dialProtocol(target, BLOCK_PROTOCOL, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
          if (stream == null) { cut++; continue }
          streams.push(stream)
          offered += frameLength
          try {
            stream.send(varint.encode(frameLength))
            for (let at = 0; at < body.length; at += 256 * 1024) stream.send(body.subarray(at, Math.min(body.length, at + 256 * 1024)))
          } catch {
            // the daemon cut it already
          }
        }
      }))
      const started = performance.now()
      await daemon.call('node.health', 30_000)
      const healthMs = performance.now() - started
      await sleep(10_000)
      const peak = readMemory(daemon.pid).hwm
      cut += streams.filter(s => s.status !== 'open').length
      await Promise.all(peers.map(async n => { await n.stop() }))
      peers.length = 0
      await sleep(5000)
      const after = readMemory(daemon.pid).rss
      return {
        metrics: {
          offeredMB: offered / MB,
          rssBeforeMB: before / MB,
          rssPeakMB: peak / MB,
          raiseMB: (peak - before) / MB,
          rssAfterMB: after / MB,
          streamsCut: cut,
          healthMs
        },
        info: { boundMB: FLOOD_BOUND_MB, withinBound: (peak - before) / MB <= FLOOD_BOUND_MB }
      }
    } finally {
      await Promise.all(peers.map(async n => { await n.stop() }))
      await daemon.stop()
    }
  }
}
