import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { ProtocolError } from '../../src/errors.ts'
import { PeerBudget } from '../../src/protocols/flow.ts'

/** A stream that records pause, resume and abort, and delivers what the test sends as 'message' events. */
class FakeStream extends EventTarget {
  readStatus: 'readable' | 'paused' | 'closing' | 'closed' = 'readable'
  maxReadBufferLength = 4 * 1024 * 1024
  abortedWith?: Error

  pause (): void { this.readStatus = 'paused' }
  resume (): void { this.readStatus = 'readable' }
  abort (err: Error): void {
    this.abortedWith = err
    this.readStatus = 'closed'
    this.dispatchEvent(new Event('close'))
  }

  deliver (n: number): void {
    this.dispatchEvent(Object.assign(new Event('message'), { data: new Uint8Array(n) }))
  }

  close (): void {
    this.readStatus = 'closed'
    this.dispatchEvent(new Event('close'))
  }
}

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

describe('protocols/flow: what peers may send ahead of the reader', () => {
  it('a stream past its high-water mark is paused, and resumes once its reader catches up', async () => {
    const budget = new PeerBudget({ streamHighWater: 100, peerBytes: 1000, totalBytes: 10_000 })
    const stream = new FakeStream()
    const flow = budget.track(stream as any, await peer())
    assert.ok(stream.maxReadBufferLength >= 16 * 1024 * 1024, 'a paused stream can hold what was in flight')
    stream.deliver(60)
    assert.equal(stream.readStatus, 'readable')
    stream.deliver(60)
    assert.equal(stream.readStatus, 'paused')
    flow.read(50)
    assert.equal(stream.readStatus, 'readable')
    assert.equal(budget.held(), 0, 'whole frames waiting for a busy reader are not half-received frames')
  })

  it('a peer over its budget of half-received frames: the stream that goes over is cut, and gives back what it held', async () => {
    const budget = new PeerBudget({ streamHighWater: 1000, peerBytes: 350, totalBytes: 10_000 })
    const attacker = await peer()
    const honest = await peer()
    const half = [new FakeStream(), new FakeStream()]
    const flows = half.map(s => budget.track(s as any, attacker))
    for (const [i, s] of half.entries()) {
      flows[i].want(200) // waits for a 200-byte frame body...
      s.deliver(130) // ...that never completes
    }
    assert.equal(half[0].readStatus, 'readable')
    assert.ok(half[1].abortedWith instanceof ProtocolError, 'the stream that went over with an incomplete frame is cut')
    assert.match(half[1].abortedWith.message, /half-received frames/)
    assert.equal(budget.held(attacker), 200, 'an incomplete frame counts at its announced size; what the cut stream held is given back')
    // a stream of the same peer whose reader is busy (not waiting for bytes) is not counted, not cut
    const busy = new FakeStream()
    budget.track(busy as any, attacker)
    busy.deliver(200)
    assert.equal(busy.abortedWith, undefined)
    // other peers are not affected by this peer's budget
    const other = new FakeStream()
    budget.track(other as any, honest).want(300)
    other.deliver(200)
    assert.equal(other.abortedWith, undefined)
    assert.equal(budget.held(), 500)
    // a frame that completes is no longer counted; a stream that dies gives back what it held
    flows[0].read(200)
    half[0].close()
    assert.equal(budget.held(attacker), 0)
  })

  it('everyone together over the total: the stream that goes over with an incomplete frame is cut', async () => {
    const budget = new PeerBudget({ streamHighWater: 1000, peerBytes: 1000, totalBytes: 300 })
    const streams: FakeStream[] = []
    for (let i = 0; i < 4; i++) {
      const s = new FakeStream()
      budget.track(s as any, await peer()).want(100)
      s.deliver(50)
      streams.push(s)
    }
    assert.deepEqual(streams.map(s => s.abortedWith != null), [false, false, false, true])
    assert.equal(budget.held(), 300)
    for (const s of streams) s.close()
    assert.equal(budget.held(), 0)
  })
})
