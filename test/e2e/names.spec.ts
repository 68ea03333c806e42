import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { runShoal, shoalCommand, startDaemonProcess } from '../helpers/processes.ts'
import type { DaemonReady, ShoalProcess } from '../helpers/processes.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

type Ready = DaemonReady
interface Sibling { cid?: string, deleted?: true, mtime: number, owner: string }
interface View { path: string, exists: boolean, conflict: boolean, value: Sibling | null, siblings: Sibling[], context: string }

const HOUR = 3_600_000

/** libfaketime (Debian package `faketime`), or $SHOAL_LIBFAKETIME; undefined when absent. */
function findLibfaketime (): string | undefined {
  const candidates = [
    process.env.SHOAL_LIBFAKETIME,
    '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
    '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1',
    '/usr/lib/faketime/libfaketimeMT.so.1',
    '/usr/local/lib/faketime/libfaketimeMT.so.1'
  ]
  return candidates.find(p => p != null && p !== '' && existsSync(p))
}
const LIBFAKETIME = findLibfaketime()

describe(`e2e: names across daemon processes (${shoalCommand().join(' ')})`, function () {
  this.timeout(180_000)
  let dir: string
  let cleanup: () => Promise<void>
  const daemons: ShoalProcess[] = []
  const nodes: Array<{ ready: Ready, repo: string }> = []

  before(async () => { ({ dir, cleanup } = await tempDir('shoal-e2e-names-')) })
  after(async () => {
    for (const d of daemons) d.child.kill('SIGKILL')
    await Promise.all(daemons.map(async d => await d.exited))
    await cleanup()
  })

  async function start (name: string, bootstrap?: string, env: Record<string, string> = {}): Promise<{ ready: Ready, repo: string }> {
    const started = await startDaemonProcess(path.join(dir, name), { bootstrap, env, logLevel: 'error' })
    daemons.push(started.proc)
    return started
  }

  async function shoal (args: string[], repo: string): Promise<string> {
    const r = await runShoal([...args, '--repo', repo], 60_000)
    assert.equal(r.code, 0, `shoal ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }

  async function view (repo: string, name: string): Promise<View> {
    const r = await runShoal(['name', 'get', name, '--json', '--repo', repo], 60_000)
    assert.ok(r.code === 0 || r.code === 1, r.stderr)
    return JSON.parse(r.stdout) as View
  }

  const liveCids = (v: View): string[] => v.siblings.filter(s => s.deleted !== true).map(s => s.cid ?? '').sort()

  async function addFile (repo: string, name: string): Promise<string> {
    const file = path.join(dir, name)
    await fs.writeFile(file, randomBytes(5000))
    return (await shoal(['add', '-Q', file], repo)).trim()
  }

  it('concurrent puts on two daemons are both siblings, seen from the third; resolve leaves one value everywhere', async () => {
    const a = await start('a')
    nodes.push(a, await start('b', a.ready.addresses[0]), await start('c', a.ready.addresses[0]))
    const [, b, c] = nodes
    for (const node of nodes) {
      await waitFor(async () => {
        const r = await runShoal(['peers', '--json', '--repo', node.repo])
        return r.code === 0 && JSON.parse(r.stdout).length >= 2
      }, 'three daemons connected', 30_000)
    }
    const x = await addFile(a.repo, 'x.bin')
    const y = await addFile(b.repo, 'y.bin')

    // at the same time, neither having read the other
    const [putX, putY] = await Promise.all([
      runShoal(['name', 'put', '/a', x, '--repo', a.repo]),
      runShoal(['name', 'put', '/a', y, '--repo', b.repo])
    ])
    assert.equal(putX.code, 0, putX.stderr)
    assert.equal(putY.code, 0, putY.stderr)
    assert.match(putX.stdout, new RegExp(`^named /a -> ${x} \\(\\d of \\d replicas confirmed, quorum 2\\)\\n$`))

    // the third sees both
    const seen = await view(c.repo, '/a')
    assert.equal(seen.conflict, true)
    assert.deepEqual(liveCids(seen), [x, y].sort())
    const text = await shoal(['name', 'get', '/a'], c.repo)
    assert.match(text, /^\/a: 2 values \(siblings\)/)
    assert.ok(text.includes(x) && text.includes(y), text)
    assert.match(text, /\ncontext: \S+\n$/)
    assert.match(await shoal(['name', 'conflicts'], c.repo), new RegExp(`^NAME\\s+VALUES\\n/a\\s+(${x} ${y}|${y} ${x})\\n$`))
    assert.match(await shoal(['name', 'ls'], c.repo), /^NAME\s+SIZE\s+OWNER\s+TIME\n\/a \(2 values\)\s+4\.9 KiB\s+12D3\w+\s+\d{4}-\d\d-\d\dT[\d:]+Z\n$/)

    // resolve on the third: Y everywhere
    assert.match(await shoal(['name', 'resolve', '/a', y], c.repo), new RegExp(`^resolved /a -> ${y} `))
    for (const node of nodes) {
      let last: View | undefined
      await waitFor(async () => {
        last = await view(node.repo, '/a')
        return liveCids(last).join() === y && !last.conflict
      }, `Y alone on ${node.repo}`, 20_000).catch(() => assert.deepEqual(last, { y }))
      assert.equal(last?.value?.cid, y)
    }
    assert.equal((await shoal(['name', 'conflicts'], a.repo)), '')
  })

  it('add --name names the file it adds; rm deletes it everywhere; errors are one line', async () => {
    const [a, b, c] = nodes
    const file = path.join(dir, 'report.txt')
    await fs.writeFile(file, 'quarterly numbers\n')
    const add = await runShoal(['add', '--name', '/docs/report.txt', file, '--repo', a.repo])
    assert.equal(add.code, 0, add.stderr)
    const cid = add.stdout.match(/^added (\S+) report\.txt\n$/)?.[1]
    assert.ok(cid != null, add.stdout)
    assert.ok(add.stderr.includes(`named /docs/report.txt -> ${cid}`), add.stderr)
    const got = await view(b.repo, '/docs/report.txt')
    assert.equal(got.value?.cid, cid)
    assert.equal((got.siblings[0] as { size?: number }).size, 18)
    const ls = JSON.parse(await shoal(['name', 'ls', '/docs', '--json'], c.repo)) as View[]
    assert.deepEqual(ls.map(n => n.path), ['/docs/report.txt'])

    assert.match(await shoal(['name', 'rm', '/docs/report.txt'], b.repo), /^removed \/docs\/report\.txt /)
    for (const node of nodes) {
      await waitFor(async () => !(await view(node.repo, '/docs/report.txt')).exists, 'the name gone everywhere', 20_000)
    }
    const missing = await runShoal(['name', 'get', '/docs/report.txt', '--repo', c.repo])
    assert.equal(missing.code, 1)
    assert.equal(missing.stderr, 'Name "/docs/report.txt" not found (it was deleted)\n')

    const bad = await runShoal(['name', 'put', 'no-slash', cid, '--repo', c.repo])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /^Invalid name "no-slash": a name must start with "\/"[^\n]*\n$/)
    const usage = await runShoal(['name', 'put', '/x', '--repo', c.repo])
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /^shoal name: name put takes a PATH and a CID\n/)
  })

  it(LIBFAKETIME == null
    ? 'a daemon whose clock is 5 hours behind (SKIPPED: libfaketime not found; apt-get install faketime, or set SHOAL_LIBFAKETIME)'
    : `a daemon whose clock is 5 hours behind (libfaketime ${LIBFAKETIME}) changes nothing: its writes are siblings or replacements by causality alone`, async function () {
    if (LIBFAKETIME == null) this.skip()
    const [a, b] = nodes
    const skewed = await start('skewed', a.ready.addresses[0], { LD_PRELOAD: LIBFAKETIME as string, FAKETIME: '-5h', FAKETIME_DONT_FAKE_MONOTONIC: '1' })
    await waitFor(async () => {
      const r = await runShoal(['peers', '--json', '--repo', skewed.repo])
      return r.code === 0 && JSON.parse(r.stdout).length >= 3
    }, 'the skewed daemon connected', 30_000)
    const x = await addFile(a.repo, 'sx.bin')
    const s = await addFile(skewed.repo, 'ss.bin')
    // concurrent blind writes: siblings, although the skewed one looks 5 hours older
    await shoal(['name', 'put', '/clock', x], a.repo)
    await shoal(['name', 'put', '/clock', s], skewed.repo)
    const both = await view(b.repo, '/clock')
    assert.deepEqual(liveCids(both), [x, s].sort())
    const mtimeOf = (cid: string): number => both.siblings.find(x => x.cid === cid)?.mtime ?? NaN
    assert.ok(mtimeOf(x) - mtimeOf(s) > 4 * HOUR, `the skewed daemon's clock is behind: ${mtimeOf(x)} vs ${mtimeOf(s)}`)
    assert.equal(both.value?.cid, x, 'the display default follows the (wrong) clock')
    // the skewed daemon reads and writes with that context: its write replaces both, whatever its mtime
    const read = await view(skewed.repo, '/clock')
    const z = await addFile(skewed.repo, 'sz.bin')
    await shoal(['name', 'put', '/clock', z, '--context', read.context], skewed.repo)
    for (const node of [...nodes, skewed]) {
      await waitFor(async () => liveCids(await view(node.repo, '/clock')).join() === z, `Z alone on ${node.repo}`, 20_000)
    }
  })
})
