import assert from 'node:assert/strict'
import { runCli } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { waitFor } from '../helpers/tmp.ts'

describe('cli: repair status and run', function () {
  this.timeout(30_000)
  let d: TestDaemon
  before(async () => { d = await startTestDaemon({ config: { antiEntropyIntervalSeconds: 3600, repairGraceSeconds: 0 } }) })
  after(async () => { await d?.stop() })

  it('run starts a pass; status says what it did, as text and JSON', async () => {
    const run = await runCli(['repair', 'run', '--repo', d.repo])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^(repair pass started|a repair pass is running already)/)
    // the pass starts on a timer after the answer: idle() alone can come before it has begun
    await waitFor(async () => {
      await d.daemon.node.replicas.repairIdle()
      return (await d.rpc('repair.status')).totals.passes >= 1
    }, 'the repair pass to end', 10_000, 20)
    const json = await runCli(['repair', 'status', '--json', '--repo', d.repo])
    assert.equal(json.code, 0, json.stderr)
    const s = JSON.parse(json.stdout)
    assert.ok(s.totals.passes >= 1)
    assert.deepEqual(s.underReplicated, { blocks: 0, bytes: 0, ranges: 0 })
    assert.equal(s.settings.bytesPerSecond, 50_000_000)
    const text = await runCli(['repair', 'status', '--repo', d.repo])
    assert.match(text.stdout, /^running +no\nlast pass +\S+, [\d.]+ s: 0 of 0 neighbours in sync; pushed 0 blocks/m)
    assert.match(text.stdout, /^under-replicated +0 blocks \(0 B\) held here in 0 ranges$/m)
    assert.match(text.stdout, /^scrub +checked \d+ blocks/m)
    const bad = await runCli(['repair', 'now', '--repo', d.repo])
    assert.equal(bad.code, 2)
  })
})
