/**
 * `shoal cat|get|ls|stat CID/dir/file` and `/ipfs/CID/dir/file`, and
 * `shoal get -a` (a tar archive), against one daemon.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { assertOneLineFailure, runCli } from '../helpers/cli.ts'
import type { CliResult } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'
import { addTree, expectedTree, extractTar, ODD, readTree } from '../helpers/trees.ts'
import type { TreeSpec } from '../helpers/trees.ts'

describe('cli paths', function () {
  this.timeout(60_000)
  let d: TestDaemon
  let tmp: { dir: string, cleanup: () => Promise<void> }
  let root: string
  let sharded: string
  let cids = new Map<string, string>()
  const big = crypto.randomBytes(600_000)
  const spec: TreeSpec = {
    'a.txt': { content: Buffer.from('alpha\n') },
    sub: { dir: true },
    'sub/big.bin': { content: big },
    [`sub/${ODD}`]: { content: Buffer.from('an odd name') },
    'sub/deeper': { dir: true },
    'sub/deeper/c.txt': { content: Buffer.from('c') },
    'sub/up': { target: '../a.txt' },
    'sub/void': { dir: true }
  }
  const shoal = async (args: string[]): Promise<CliResult> => await runCli([...args, '--repo', d.repo])

  before(async () => {
    tmp = await tempDir('shoal-cli-paths-')
    d = await startTestDaemon()
    const { files } = d.daemon.node
    const added = await addTree(files, spec)
    root = added.cid
    cids = added.cids
    const shardSpec: TreeSpec = { d: { dir: true } }
    for (let i = 0; i < 40; i++) shardSpec[`d/n${i}`] = { content: Buffer.from(`entry ${i}`) }
    sharded = (await addTree(files, shardSpec, { shardSplitThresholdBytes: 1 })).cid
  })
  after(async () => {
    await d?.stop()
    await tmp?.cleanup()
  })

  it('cat CID/dir/file and /ipfs/CID/dir/file write the file; a name with %, a space and UTF-8; through a HAMT', async () => {
    for (const p of [`${root}/sub/big.bin`, `/ipfs/${root}/sub/big.bin`]) {
      const r = await shoal(['cat', p])
      assert.equal(r.code, 0, r.stderr)
      assert.ok(r.bytes.equals(big), p)
    }
    assert.equal((await shoal(['cat', `${root}/sub/${ODD}`])).bytes.toString(), 'an odd name')
    assert.equal((await shoal(['cat', '--offset', '2', `${root}/a.txt`])).bytes.toString(), 'pha\n')
    assert.equal((await shoal(['cat', `/ipfs/${sharded}/d/n33`])).bytes.toString(), 'entry 33')
  })

  it('ls and stat take paths: --json shows the CID the path names', async () => {
    const ls = await shoal(['ls', `/ipfs/${root}/sub/`])
    assert.equal(ls.code, 0, ls.stderr)
    assert.deepEqual(ls.stdout.trimEnd().split('\n').map(l => l.split(/\s+/).slice(2).join(' ')), [ODD, 'big.bin', 'deeper/', 'up', 'void/'])
    const stat = JSON.parse((await shoal(['stat', '--json', `${root}/sub/deeper/c.txt`])).stdout)
    assert.equal(stat.cid, cids.get('sub/deeper/c.txt'))
    assert.equal(stat.size, 1)
    const text = await shoal(['stat', `/ipfs/${sharded}/d`])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^type\s+directory$/m)
  })

  it('get CID/dir saves the subtree under its own name (as ipfs get), and -o elsewhere', async () => {
    const cwd = process.cwd()
    const here = await fs.mkdtemp(path.join(tmp.dir, 'cwd-'))
    process.chdir(here)
    try {
      const r = await shoal(['get', '-Q', `/ipfs/${root}/sub/`])
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(await fs.readdir(here), ['sub'])
      assert.deepEqual(await readTree(path.join(here, 'sub')), expectedTree(spec, 'sub'))
      const file = await shoal(['get', `${root}/sub/${ODD}`])
      assert.equal(file.code, 0, file.stderr)
      assert.equal(file.stdout, `saved ${root}/sub/${ODD} to ${path.join(here, ODD)}\n`)
      assert.equal(await fs.readFile(path.join(here, ODD), 'utf8'), 'an odd name')
    } finally {
      process.chdir(cwd)
    }
    const out = path.join(tmp.dir, 'elsewhere')
    assert.equal((await shoal(['get', '-Q', '-o', out, `${root}/sub/deeper`])).code, 0)
    assert.deepEqual(await readTree(out), expectedTree(spec, 'sub/deeper'))
  })

  it('get -a writes a tar archive to stdout, or to -o FILE; of a tree, a path below it, or one file', async () => {
    const whole = await shoal(['get', '-a', root])
    assert.equal(whole.code, 0, whole.stderr)
    assert.equal(whole.stdout, '')
    const dir = await extractTar(whole.bytes, tmp.dir)
    assert.deepEqual(await fs.readdir(dir), [root])
    assert.deepEqual(await readTree(path.join(dir, root)), expectedTree(spec))

    const file = path.join(tmp.dir, 'sub.tar')
    const saved = await shoal(['get', '--archive', '-o', file, `/ipfs/${root}/sub`])
    assert.equal(saved.code, 0, saved.stderr)
    assert.equal(saved.stdout, `saved /ipfs/${root}/sub to ${file} (tar)\n`)
    assert.ok(!(await fs.readdir(tmp.dir)).some(n => n.endsWith('.shoal-partial')))
    const sub = await extractTar(await fs.readFile(file), tmp.dir)
    assert.deepEqual(await readTree(path.join(sub, 'sub')), expectedTree(spec, 'sub'))

    const one = await extractTar((await shoal(['get', '-a', `${root}/sub/big.bin`])).bytes, tmp.dir)
    assert.deepEqual(await fs.readdir(one), ['big.bin'])
    assert.ok((await fs.readFile(path.join(one, 'big.bin'))).equals(big))
  })

  it('errors are one line in shoal\'s words: a missing entry, a path below a file, a malformed path', async () => {
    for (const command of [['cat'], ['ls'], ['stat'], ['get', '-o', path.join(tmp.dir, 'never')], ['get', '-a']]) {
      assertOneLineFailure(await shoal([...command, `${root}/sub/nope`]), /nope/)
    }
    assertOneLineFailure(await shoal(['cat', `${root}/a.txt/more`]), /a\.txt" is a file, not a directory/)
    assertOneLineFailure(await shoal(['stat', `${root}/a.txt/more`]), /a\.txt" is a file, not a directory/)
    assertOneLineFailure(await shoal(['cat', `${root}/sub/../a.txt`]), /Invalid path segment "\.\."/)
    assertOneLineFailure(await shoal(['get', '-a', `${root}//a.txt`]), /empty segment/)
    assertOneLineFailure(await shoal(['ls', `/${root}/sub`]), /expected CID\[\/path\] or \/ipfs\/CID\[\/path\]/)
    await assert.rejects(fs.stat(path.join(tmp.dir, 'never')))
    const json = await shoal(['stat', '--json', `${root}/sub/nope`])
    assert.equal(json.code, 1)
    assert.equal(JSON.parse(json.stdout).error.code, 'ERR_PATH_NOT_FOUND')
  })
})
