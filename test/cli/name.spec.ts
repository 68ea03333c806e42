import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import { runCli } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'

describe('cli: name', function () {
  this.timeout(60_000)

  it('--help explains blind writes and contexts', async () => {
    const r = await runCli(['name', '--help'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^Usage: shoal name put PATH CID/)
    for (const word of ['blind write', '--context C', 'resolve PATH CID', '--json', '--repo DIR']) assert.ok(r.stdout.includes(word), word)
  })

  it('refuses bad command lines with exit 2 before reaching a daemon', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['name'], /say put, get, ls, rm, conflicts or resolve/],
      [['name', 'frob'], /unknown name command "frob"/],
      [['name', 'put', '/x'], /name put takes a PATH and a CID/],
      [['name', 'get'], /name get takes a PATH/],
      [['name', 'get', '/x', '--context', 'c'], /--context does not apply to name get/],
      [['name', 'put', '/x', 'bafy', '--size', '1.5'], /--size must be a whole number/],
      [['name', 'conflicts', '/x'], /name conflicts takes no arguments/]
    ]
    for (const [argv, message] of cases) {
      const r = await runCli([...argv, '--repo', '/nonexistent'])
      assert.equal(r.code, 2, argv.join(' '))
      assert.match(r.stderr, message)
      assert.match(r.stderr, /Run "shoal name --help" for usage\.\n$/)
    }
    const { dir, cleanup } = await tempDir()
    try {
      await fs.writeFile(path.join(dir, 'f'), 'x')
      const r = await runCli(['add', '--only-hash', '--name', '/f', path.join(dir, 'f')])
      assert.equal(r.code, 2)
      assert.match(r.stderr, /--name needs the daemon/)
    } finally {
      await cleanup()
    }
  })

  describe('against a daemon', () => {
    let d: TestDaemon
    let dir: string
    let cleanup: () => Promise<void>
    before(async () => {
      d = await startTestDaemon()
      ;({ dir, cleanup } = await tempDir())
    })
    after(async () => {
      await d?.stop()
      await cleanup?.()
    })

    const cli = async (...argv: string[]): Promise<{ code: number, stdout: string, stderr: string }> => await runCli([...argv, '--repo', d.repo])

    it('add --name, put, get, ls, conflicts, resolve and rm', async () => {
      const file = path.join(dir, 'a.txt')
      await fs.writeFile(file, 'hello names\n')
      const add = await cli('add', '--name', '/docs/a.txt', file)
      assert.equal(add.code, 0, add.stderr)
      const cid = /^added (\S+) a\.txt\n$/.exec(add.stdout)?.[1] as string
      assert.match(add.stderr, new RegExp(`named /docs/a.txt -> ${cid}\\n`))

      // a blind put of another CID (size looked up from the content) is a sibling
      const other = path.join(dir, 'b.txt')
      await fs.writeFile(other, 'another value, longer\n')
      const cid2 = (await cli('add', '-Q', other)).stdout.trim()
      const put = await cli('name', 'put', '/docs/a.txt', cid2)
      assert.equal(put.code, 0, put.stderr)
      assert.equal(put.stdout, `named /docs/a.txt -> ${cid2} (1 of 1 replicas confirmed, quorum 1)\n`)
      assert.match(put.stderr, /^warning: \/docs\/a\.txt has 2 values \(siblings\): .*; keep one with: shoal name resolve \/docs\/a\.txt CID\n$/)

      const get = await cli('name', 'get', '/docs/a.txt')
      assert.equal(get.code, 0, get.stderr)
      const lines = get.stdout.split('\n')
      assert.equal(lines[0], '/docs/a.txt: 2 values (siblings); the first is the default. Keep one with: shoal name resolve /docs/a.txt CID')
      assert.match(lines[1], /^CID\s+SIZE\s+OWNER\s+TIME$/)
      assert.match(lines[2], new RegExp(`^(${cid}|${cid2})\\s+\\d+ B\\s+12D3\\w+\\s+\\d{4}-`))
      assert.match(lines[4], /^context: [\w-]+$/)
      const json = JSON.parse((await cli('name', 'ls', '--json')).stdout)
      assert.deepEqual(json.map((n: { path: string, conflict: boolean }) => [n.path, n.conflict]), [['/docs/a.txt', true]])
      assert.match((await cli('name', 'conflicts')).stdout, /^NAME\s+VALUES\n\/docs\/a\.txt\s+\S+ \S+\n$/)

      // put with the context read: replaces both
      const context = /^context: (\S+)$/m.exec(get.stdout)?.[1] as string
      const replaced = await cli('name', 'put', '/docs/a.txt', cid, '--context', context, '--json')
      assert.equal(replaced.code, 0, replaced.stderr)
      assert.equal(JSON.parse(replaced.stdout).replaced, 2)
      assert.equal((await cli('name', 'conflicts')).stdout, '')
      assert.match((await cli('name', 'ls', '/docs')).stdout, /^NAME\s+SIZE\s+OWNER\s+TIME\n\/docs\/a\.txt\s+12 B\s+12D3\w+\s+\S+Z\n$/)

      await cli('name', 'put', '/docs/a.txt', cid2)
      const resolved = await cli('name', 'resolve', '/docs/a.txt', cid2)
      assert.match(resolved.stdout, new RegExp(`^resolved /docs/a.txt -> ${cid2} `))
      assert.equal(resolved.stderr, '')

      const rm = await cli('name', 'rm', '/docs/a.txt')
      assert.match(rm.stdout, /^removed \/docs\/a\.txt \(1 of 1 replicas confirmed, quorum 1\)\n$/)
      const gone = await cli('name', 'get', '/docs/a.txt')
      assert.equal(gone.code, 1)
      assert.equal(gone.stderr, 'Name "/docs/a.txt" not found (it was deleted)\n')
      assert.equal((await cli('name', 'ls')).stdout, '')
      const again = await cli('name', 'rm', '/docs/a.txt')
      assert.equal(again.code, 1)
      assert.equal(again.stderr, 'Cannot remove "/docs/a.txt": it does not exist\n')
      const unknown = await cli('name', 'put', '/x', 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')
      assert.equal(unknown.code, 1)
      assert.match(unknown.stderr, /^Cannot write "\/x": cannot find the size of bafkrei\w+ \(.*\); give the size, or add the content first\n$/)
    })
  })
})
