import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { NodeEvents } from '../../src/node/events.ts'
import type { HealthState, NodeEvent } from '../../src/node/events.ts'
import type { RepairReport } from '../../src/replication/repair.ts'
import type { RepairEvent } from '../../src/replication/service.ts'
import { memoryLogger } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/tmp.ts'

describe('node events (node/events.ts)', () => {
  let peer: PeerId
  before(async () => { peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))) })

  function setup (): {
    events: NodeEvents
    membership: Set<(p: PeerId, joined: boolean) => void>
    repair: Set<(e: RepairEvent) => void>
    health: { now: HealthState | Error, reads: number }
    lines: string[]
  } {
    const membership = new Set<(p: PeerId, joined: boolean) => void>()
    const repair = new Set<(e: RepairEvent) => void>()
    const health: { now: HealthState | Error, reads: number } = { now: { status: 'ok', problems: [] }, reads: 0 }
    const lines: string[] = []
    const events = new NodeEvents({
      onMembership: (l) => { membership.add(l); return () => { membership.delete(l) } },
      onRepair: (l) => { repair.add(l); return () => { repair.delete(l) } },
      health: () => {
        health.reads++
        if (health.now instanceof Error) throw health.now
        return health.now
      },
      healthPollMs: 10,
      logger: memoryLogger(lines)
    })
    return { events, membership, repair, health, lines }
  }

  it('listens to nothing until watched, and lets go when the last watcher leaves', async () => {
    const { events, membership, repair, health } = setup()
    await sleep(40)
    assert.equal(membership.size + repair.size + health.reads, 0)
    const stop1 = events.watch(() => {})
    const stop2 = events.watch(() => {})
    assert.equal(membership.size, 1, 'one source listener for all watchers')
    assert.equal(repair.size, 1)
    await waitFor(() => health.reads > 2, 'health to be polled', 2000, 5)
    stop1()
    stop1()
    assert.equal(membership.size, 1, 'the other watcher still watches')
    stop2()
    assert.equal(membership.size + repair.size, 0)
    const reads = health.reads
    await sleep(50)
    assert.equal(health.reads, reads, 'no more polling')
    assert.equal(events.watching, 0)
  })

  it('tells peers joining and leaving, repair passes, and health changes only', async () => {
    const { events, membership, repair, health } = setup()
    const seen: NodeEvent[] = []
    const stop = events.watch(e => { seen.push(e) })
    for (const l of membership) { l(peer, true); l(peer, false) }
    const report = { startedAt: 1, endedAt: 2, pushed: { blocks: 1, bytes: 10 } } as unknown as RepairReport
    for (const l of repair) { l({ type: 'started', startedAt: 1 }); l({ type: 'ended', report }) }
    assert.deepEqual(seen, [
      { type: 'peer.joined', peer: peer.toString() },
      { type: 'peer.left', peer: peer.toString() },
      { type: 'repair.started', startedAt: 1 },
      { type: 'repair.ended', report }
    ])
    seen.length = 0
    // polled many times while unchanged: nothing
    await waitFor(() => health.reads > 5, 'a few polls', 2000, 5)
    assert.deepEqual(seen, [])
    health.now = { status: 'degraded', problems: ['only 1 of the 3 replicas'] }
    await waitFor(() => seen.length > 0, 'the health change', 2000, 5)
    health.now = { status: 'degraded', problems: ['only 1 of the 3 replicas'] }
    const reads = health.reads
    await waitFor(() => health.reads > reads + 3, 'more polls', 2000, 5)
    assert.deepEqual(seen, [{ type: 'health', status: 'degraded', problems: ['only 1 of the 3 replicas'], previous: { status: 'ok', problems: [] } }])
    // a change of the problems alone is a change
    health.now = { status: 'degraded', problems: ['only 2 of the 3 replicas'] }
    await waitFor(() => seen.length > 1, 'the problems change', 2000, 5)
    assert.equal(seen.length, 2)
    stop()
  })

  it('a failing health read or a throwing watcher is logged; the others go on', async () => {
    const { events, membership, health, lines } = setup()
    const seen: NodeEvent[] = []
    events.watch(() => { throw new Error('watcher bug') })
    events.watch(e => { seen.push(e) })
    for (const l of membership) l(peer, true)
    assert.equal(seen.length, 1)
    assert.ok(lines.some(l => /node event listener failed/.test(l) && /watcher bug/.test(l)))
    health.now = new Error('database closed')
    await waitFor(() => lines.some(l => /could not read the health/.test(l)), 'the health failure to be logged', 2000, 5)
    health.now = { status: 'degraded', problems: ['x'] }
    await waitFor(() => seen.some(e => e.type === 'health'), 'health after the failure', 2000, 5)
    events.stop()
    assert.equal(events.watching, 0)
    assert.equal(membership.size, 0)
  })
})
