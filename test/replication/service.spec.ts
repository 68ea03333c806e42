import assert from 'node:assert/strict'
import { BlockReplicaService } from '../../src/replication/service.ts'
import type { BlockReplicaInit } from '../../src/replication/service.ts'
import { FakeClock } from '../helpers/clock.ts'

describe('replication/service: repair yields to user requests (fake clock)', () => {
  // nothing of the network is used by what this tests
  const service = (clock: FakeClock): BlockReplicaService => new BlockReplicaService({ clock } as unknown as BlockReplicaInit)

  it('waits while a user request is in flight, and goes on as soon as none is', async () => {
    const clock = new FakeClock()
    const s = service(clock)
    const done = s.userOperation()
    let waited = false
    const waiting = s.waitForUsers(new AbortController().signal).then(() => { waited = true })
    await clock.advance(1000)
    assert.equal(waited, false)
    done()
    done() // twice is once
    await clock.advance(25)
    await waiting
    assert.equal(waited, true)
    // none in flight: no wait at all
    let at = -1
    await s.waitForUsers(new AbortController().signal).then(() => { at = clock.now() })
    assert.equal(at, clock.now())
  })

  it('waits at most 2 s, however busy the node is', async () => {
    const clock = new FakeClock()
    const s = service(clock)
    s.userOperation()
    const start = clock.now()
    let end = 0
    const waiting = s.waitForUsers(new AbortController().signal).then(() => { end = clock.now() })
    await clock.advance(5000)
    await waiting
    assert.equal(end - start, 2000)
  })
})
