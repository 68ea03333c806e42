/**
 * The write quorum is a promise: a lone node asked for more copies than it
 * can make fails the add or the name write with ERR_QUORUM, keeps the data,
 * and says so, in words and (with --json) in JSON.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { runCli } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'

describe('cli: a write quorum that cannot be met', function () {
  this.timeout(30_000)
  let d: TestDaemon
  let dir: string
  let cleanup: () => Promise<void>
  let file: string

  before(async () => {
    ({ dir, cleanup } = await tempDir('shoal-cli-quorum-'))
    // the defaults, k = 3 and a quorum of 2, with no peers at all
    d = await startTestDaemon({ config: { replicas: 3, quorum: 2 } })
    file = path.join(dir, 'f.bin')
    await fs.writeFile(file, crypto.randomBytes(700_000))
  })
  after(async () => {
    await d?.stop()
    await cleanup()
  })
  const shoal = async (...args: string[]): Promise<Awaited<ReturnType<typeof runCli>>> => await runCli([...args, '--repo', d.repo])

  for (const flags of [[], ['--quorum', '3']]) {
    it(`add ${flags.join(' ') || '(the configured quorum)'} fails with ERR_QUORUM, says how many copies exist, and keeps the data pinned`, async () => {
      const r = await shoal('add', ...flags, file)
      assert.equal(r.code, 1)
      const wanted = flags.length === 0 ? 2 : 3
      assert.match(r.stderr, new RegExp(`^Added (\\S+) here, but 4 of 4 blocks have fewer than the ${wanted} confirmed copies asked for \\(the fewest: 1; 1 of k=3 storage nodes reachable\\); the data is kept and pinned on this node\\. With fewer nodes, lower the quorum`))
      const cid = /^Added (\S+) /.exec(r.stderr)?.[1]
      const pins = JSON.parse((await shoal('pin', 'ls', '--json')).stdout) as Array<{ cid: string }>
      assert.ok(pins.some(p => p.cid === cid), 'pinned here')
      const cat = await shoal('cat', cid as string)
      assert.ok(cat.bytes.equals(await fs.readFile(file)), 'readable here')
    })
  }

  it('add --json answers the error as JSON: the code, the copies of every block, pinned', async () => {
    const r = await shoal('add', '--json', file)
    assert.equal(r.code, 1)
    const answer = JSON.parse(r.stdout)
    assert.equal(answer.error.code, 'ERR_QUORUM')
    assert.equal(answer.error.details.pinned, true)
    assert.deepEqual(answer.error.details.replication.replicas, [0, 4, 0, 0])
    assert.equal(answer.error.details.replication.quorum, 2)
  })

  it('a quorum above the replicas asked for is refused before anything is stored', async () => {
    const before = (await shoal('repo', 'stat', '--json')).stdout
    const r = await shoal('add', '--replicas', '2', '--quorum', '3', file)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^A quorum of 3 can never be met with 2 replicas/)
    assert.equal(JSON.parse((await shoal('repo', 'stat', '--json')).stdout).blocks, JSON.parse(before).blocks)
  })

  it('--quorum 1 is met by this node alone, and the answer says only 1 node was reachable', async () => {
    const r = await shoal('add', '--quorum', '1', file)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /^replicas: 4 blocks \(683\.6 KiB\): 4 with 1 confirmed \(k=3, quorum 1; only 1 storage node reachable\)\n$/)
  })

  it('a name write fails the same way, keeps the record here, and --json says so', async () => {
    const cid = (await shoal('add', '-Q', '--quorum', '1', file)).stdout.trim()
    const r = await shoal('name', 'put', '--json', '/q/a', cid)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^Wrote "\/q\/a" here, but only 1 of the 2 confirmed copies it needs exist \(1 of k=3 replicas reachable\); it is kept on this node and will be re-synced\n$/)
    const answer = JSON.parse(r.stdout)
    assert.equal(answer.error.code, 'ERR_QUORUM')
    assert.deepEqual(answer.error.details, { key: '/q/a', confirmed: 1, quorum: 2, replicaSet: 1, kept: true })
    const read = JSON.parse((await shoal('name', 'get', '--json', '/q/a')).stdout)
    assert.equal(read.value.cid, cid, 'kept here')
  })
})
