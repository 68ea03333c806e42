import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { CarReader } from '@ipld/car'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { assertOneLineFailure, runCli } from '../helpers/cli.ts'
import type { CliResult } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'

describe('cli: dag, block, refs', function () {
  this.timeout(60_000)
  let a: TestDaemon
  let b: TestDaemon
  let dir: string
  let cleanup: () => Promise<void>
  let root: string

  before(async () => {
    ({ dir, cleanup } = await tempDir('shoal-cli-dag-'))
    ;[a, b] = await Promise.all([startTestDaemon(), startTestDaemon()])
    const tree = path.join(dir, 'tree')
    await fs.mkdir(path.join(tree, 'sub'), { recursive: true })
    await fs.writeFile(path.join(tree, 'big.bin'), crypto.randomBytes(1300 * 1024))
    await fs.writeFile(path.join(tree, 'sub', 'copy.bin'), await fs.readFile(path.join(tree, 'big.bin')))
    await fs.writeFile(path.join(tree, 'sub', 'note.txt'), 'a note\n')
    const added = await on(a, 'add', '-r', '-Q', tree)
    assert.equal(added.code, 0, added.stderr)
    root = added.stdout.trim()
  })
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await cleanup()
  })

  const on = async (d: TestDaemon, ...args: string[]): Promise<CliResult> => await runCli([...args, '--repo', d.repo])
  const onWithStdin = async (d: TestDaemon, stdin: Uint8Array, ...args: string[]): Promise<CliResult> => await runCli([...args, '--repo', d.repo], {}, stdin)

  it('dag export > x.car, then dag import on another node: the same root, pinned, the same bytes', async () => {
    const exported = await on(a, 'dag', 'export', root)
    assert.equal(exported.code, 0, exported.stderr)
    const reader = await CarReader.fromBytes(exported.bytes)
    assert.deepEqual((await reader.getRoots()).map(String), [root])
    const carFile = path.join(dir, 'x.car')
    await fs.writeFile(carFile, exported.bytes)

    const imported = await on(b, 'dag', 'import', '--stats', carFile)
    assert.equal(imported.code, 0, imported.stderr)
    let blocks = 0
    let bytes = 0
    for await (const block of reader.blocks()) {
      blocks++
      bytes += block.bytes.length
    }
    assert.equal(imported.stdout, `Pinned root\t${root}\tsuccess\nImported ${blocks} blocks (${bytes} bytes)\n`)
    const cat = await on(b, 'cat', `${(JSON.parse((await on(b, 'ls', '--json', root)).stdout) as Array<{ name: string, cid: string }>).find(e => e.name === 'big.bin')?.cid}`)
    assert.ok(cat.bytes.equals(await fs.readFile(path.join(dir, 'tree', 'big.bin'))))
    assert.ok((await on(b, 'dag', 'export', root)).bytes.equals(exported.bytes), 'b exports the very same CAR')
  })

  it('dag import - reads standard input; --json answers the roots, blocks and replication', async () => {
    const note = (await on(a, 'add', '-Q', path.join(dir, 'tree', 'sub', 'note.txt'))).stdout.trim()
    const car = (await on(a, 'dag', 'export', note)).bytes
    const r = await onWithStdin(b, car, 'dag', 'import', '--json', '-')
    assert.equal(r.code, 0, r.stderr)
    const json = JSON.parse(r.stdout)
    assert.deepEqual(json.roots, [note])
    assert.equal(json.blocks, 1)
    assert.equal(json.replication.short, 0)
  })

  it('dag import of a garbled CAR fails in one line and stores nothing', async () => {
    const fresh = path.join(dir, 'fresh.bin')
    await fs.writeFile(fresh, crypto.randomBytes(600 * 1024))
    const cid = (await on(a, 'add', '-Q', fresh)).stdout.trim()
    const car = Buffer.from((await on(a, 'dag', 'export', cid)).bytes)
    car[car.length - 1] ^= 1
    const r = await onWithStdin(b, car, 'dag', 'import', '-')
    assertOneLineFailure(r, /^Refusing the CAR: block \d+ "\S+" does not match its CID/)
    const refs = (await on(a, 'refs', cid)).stdout.trim().split('\n')
    for (const c of [cid, ...refs]) assert.equal(await b.daemon.node.store.blocks.has(CID.parse(c)), false, `${c} not stored`)
    assertOneLineFailure(await on(b, 'dag', 'import', path.join(dir, 'nope.car')), /^Cannot import ".*nope\.car": no such file or directory/)
  })

  it('refs -r --unique lists every block of the DAG but the root, once; refs -r lists the shared file twice', async () => {
    const car = await CarReader.fromBytes((await on(a, 'dag', 'export', root)).bytes)
    let blocks = 0
    for await (const _ of car.blocks()) blocks++
    const unique = await on(a, 'refs', '-r', '--unique', root)
    assert.equal(unique.code, 0, unique.stderr)
    const lines = unique.stdout.trim().split('\n')
    assert.equal(lines.length, blocks - 1)
    assert.equal(new Set(lines).size, lines.length)
    const all = (await on(a, 'refs', '-r', root)).stdout.trim().split('\n')
    // big.bin and sub/copy.bin are one DAG (a root and 6 leaves): listed twice without --unique
    assert.equal(all.length, lines.length + 7)
    const json = JSON.parse((await on(a, 'refs', '--json', root)).stdout) as string[]
    assert.equal(json.length, 2, 'the root directory\'s own links: big.bin and sub')
  })

  it('block put, block get, block stat: Kubo\'s shapes', async () => {
    const bytes = crypto.randomBytes(1000)
    const put = await onWithStdin(a, bytes, 'block', 'put', '-')
    assert.equal(put.code, 0, put.stderr)
    const cid = CID.createV1(raw.code, await sha256.digest(bytes)).toString()
    assert.equal(put.stdout, `${cid}\n`)
    const get = await on(a, 'block', 'get', cid)
    assert.ok(get.bytes.equals(bytes))
    assert.equal((await on(a, 'block', 'stat', cid)).stdout, `Key: ${cid}\nSize: 1000\nCodec: raw\n`)
    assert.deepEqual(JSON.parse((await on(a, 'block', 'stat', '--json', cid)).stdout), { cid, size: 1000, codec: 'raw' })
    assertOneLineFailure(await onWithStdin(a, bytes, 'block', 'put', '--cid-codec', 'dag-pb', '-'), /does not decode as dag-pb/)
    const badCodec = await on(a, 'block', 'put', '--cid-codec', 'cbor', '-')
    assert.equal(badCodec.code, 2)
    assert.match(badCodec.stderr, /^shoal block: --cid-codec must be raw or dag-pb, not "cbor"\n/)
    assertOneLineFailure(await on(a, 'block', 'get', 'nonsense'), /^Invalid CID "nonsense"/)
  })

  it('--help for each, and usage errors exit 2', async () => {
    for (const cmd of ['dag', 'block', 'refs']) {
      const help = await runCli([cmd, '--help'])
      assert.equal(help.code, 0)
      assert.match(help.stdout, new RegExp(`^Usage: shoal ${cmd} `))
    }
    assert.equal((await on(a, 'dag', 'explode', root)).code, 2)
    assert.equal((await on(a, 'refs')).code, 2)
    assert.equal((await on(a, 'refs', '--max-depth', '2', root)).code, 2, '--max-depth goes with -r')
  })
})
