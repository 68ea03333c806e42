import assert from 'node:assert/strict'
import { AbortedError } from '../../src/errors.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { RateLimiter, sleep, Worker } from '../../src/platform/worker.ts'
import { FakeClock } from '../helpers/clock.ts'

describe('platform/worker: the background work contract (fake clock)', () => {
  it('runs a pass every interval after the previous one ends, never two at once', async () => {
    const clock = new FakeClock()
    const starts: number[] = []
    let inFlight = 0
    let most = 0
    const worker = new Worker({
      name: 'test',
      intervalMs: 1000,
      clock,
      run: async () => {
        starts.push(clock.now())
        most = Math.max(most, ++inFlight)
        await sleep(300, { clock })
        inFlight--
      }
    })
    const t0 = clock.now()
    worker.start()
    await clock.advance(999)
    assert.deepEqual(starts, [])
    await clock.advance(5000)
    // 1000, then 1000 after each end (each pass takes 300)
    assert.deepEqual(starts.map(t => t - t0), [1000, 2300, 3600, 4900])
    assert.equal(most, 1)
    await worker.stop()
    await clock.advance(10_000)
    assert.equal(starts.length, 4)
  })

  it('trigger runs a pass soon; triggers during a pass make one more pass, not many', async () => {
    const clock = new FakeClock()
    let passes = 0
    const worker = new Worker({ name: 'test', intervalMs: 0, clock, run: async () => { passes++; await sleep(100, { clock }) } })
    worker.start()
    await clock.advance(10_000)
    assert.equal(passes, 0, 'with no interval, only triggers run it')
    worker.trigger()
    await clock.advance(10)
    assert.equal(passes, 1)
    worker.trigger()
    worker.trigger()
    worker.trigger()
    await clock.advance(1000)
    assert.equal(passes, 2)
    worker.trigger(500)
    worker.trigger(200)
    await clock.advance(250)
    assert.equal(passes, 3, 'the sooner of two triggers')
    await clock.advance(1000)
    assert.equal(passes, 3)
    await worker.stop()
  })

  it('stop aborts the signal the pass was given and waits for it; a failing pass is logged and the next runs', async () => {
    const clock = new FakeClock()
    const lines: string[] = []
    let calls = 0
    let seen: unknown
    const worker = new Worker({
      name: 'flaky',
      intervalMs: 100,
      clock,
      logger: createLogger({ level: 'warn', write: (l) => { lines.push(l) } }),
      run: async (signal) => {
        if (++calls === 1) throw new Error('boom')
        try {
          await sleep(60_000, { clock, signal })
        } catch (err) {
          seen = err
          throw err
        }
      }
    })
    worker.start()
    await clock.advance(250)
    assert.equal(calls, 2)
    assert.ok(lines.some(l => l.includes('flaky failed; it runs again later') && l.includes('boom')), lines.join(''))
    assert.equal(worker.running, true)
    await worker.stop()
    assert.ok(seen instanceof AbortedError)
    assert.equal(worker.running, false)
    assert.equal(lines.length, 1, 'an abort at stop is not a failure')
  })

  it('RateLimiter lets a burst through, then paces bytes to the rate', async () => {
    const clock = new FakeClock()
    const limiter = new RateLimiter({ bytesPerSecond: 1000, burst: 100, clock })
    const done: number[] = []
    const t0 = clock.now()
    const taking = (async () => {
      for (let i = 0; i < 5; i++) {
        await limiter.take(100)
        done.push(clock.now() - t0)
      }
    })()
    await clock.advance(1000)
    await taking
    // the burst, then one take every 100 ms: 100 bytes per 100 ms
    assert.deepEqual(done, [0, 100, 200, 300, 400])
    // one request far above the burst goes through with a full bucket and is paid for by the next
    const big = limiter.take(10_000)
    await clock.advance(100)
    await big
    const before = clock.now()
    let after = 0
    const next = limiter.take(1).then(() => { after = clock.now() })
    await clock.advance(20_000)
    await next
    // 9900 in debt, 100 ms of it paid before `before`, and one byte more
    assert.equal(after - before, 9801)
    // what was taken and not used comes back
    limiter.refund(100)
    const quick = limiter.take(100)
    await clock.advance(0)
    await quick
  })
})
