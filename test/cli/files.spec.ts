import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import crypto from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs/promises'
import path from 'node:path'
import { PassThrough, Writable } from 'node:stream'
import { importFile, nullSink } from '../../src/content/importer.ts'
import type { CliIO } from '../../src/cli/io.ts'
import { main } from '../../src/cli/main.ts'
import { assertOneLineFailure, runCli } from '../helpers/cli.ts'
import type { CliResult } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'

const HELLO_V1 = 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq'
const HELLO_V0 = 'QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX'
const CID_RE = /^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{58,})$/

/** Every file (path -> "size sha256") and directory (path -> "dir") below `root` (small enough to diff). */
async function readTree (root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const e of (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = rel === '' ? e.name : `${rel}/${e.name}`
      if (e.isDirectory()) {
        out[p] = 'dir'
        await visit(path.join(dir, e.name), p)
      } else {
        const bytes = await fs.readFile(path.join(dir, e.name))
        out[p] = `${bytes.length} ${crypto.createHash('sha256').update(bytes).digest('hex')}`
      }
    }
  }
  await visit(root, '')
  return out
}

describe('cli files', function () {
  this.timeout(30_000)
  let d: TestDaemon
  let dir: string
  let cleanup: () => Promise<void>
  let big: Buffer
  let bigFile: string
  let tree: string

  before(async () => {
    ({ dir, cleanup } = await tempDir('shoal-cli-files-'))
    d = await startTestDaemon()
    big = crypto.randomBytes(3 * 1024 * 1024 + 333)
    bigFile = path.join(dir, 'big.bin')
    await fs.writeFile(bigFile, big)
    await fs.writeFile(path.join(dir, 'hello.txt'), 'hello')
    tree = path.join(dir, 'tree')
    await fs.mkdir(path.join(tree, 'sub', 'deeper'), { recursive: true })
    await fs.mkdir(path.join(tree, 'empty'))
    await fs.writeFile(path.join(tree, 'a.txt'), 'alpha\n')
    await fs.writeFile(path.join(tree, 'sub', 'b.bin'), crypto.randomBytes(700_000))
    await fs.writeFile(path.join(tree, 'sub', 'deeper', 'c d.txt'), 'a name with a space')
    await fs.writeFile(path.join(tree, 'sub', 'zero'), '')
  })
  after(async () => {
    await d?.stop()
    await cleanup()
  })

  const shoal = async (args: string[], stdin?: Uint8Array): Promise<CliResult> => await runCli([...args, '--repo', d.repo], {}, stdin)
  const addQuiet = async (args: string[], stdin?: Uint8Array): Promise<string> => {
    const r = await shoal(['add', '-Q', ...args], stdin)
    assert.equal(r.code, 0, r.stderr)
    const cid = r.stdout.trim()
    assert.match(cid, CID_RE)
    return cid
  }

  describe('add', () => {
    it('a file: "added CID NAME" with the importer\'s CID, a replication line on stderr, no progress bar when not a TTY', async () => {
      const r = await shoal(['add', bigFile])
      assert.equal(r.code, 0, r.stderr)
      const cid = (await importFile(big, nullSink)).cid.toString()
      assert.equal(r.stdout, `added ${cid} big.bin\n`)
      assert.match(r.stderr, /^replicas: 14 blocks \(3\.0 MiB\): 14 with 1 confirmed \(k=1, quorum 1\)\n$/)
      assert.ok(!r.stderr.includes('\r'), 'no progress bar')
    })

    it('hello gives the Kubo CIDs (v1 default, --cid-version 0)', async () => {
      assert.equal(await addQuiet([path.join(dir, 'hello.txt')]), HELLO_V1)
      assert.equal(await addQuiet(['--cid-version', '0', path.join(dir, 'hello.txt')]), HELLO_V0)
    })

    it('- reads stdin; -Q prints only the CID; --json the whole result', async () => {
      const q = await shoal(['add', '-Q', '-'], Buffer.from('hello'))
      assert.equal(q.stdout, `${HELLO_V1}\n`)
      assert.equal(q.stderr, '')
      const j = await shoal(['add', '--json', '-'], big)
      assert.equal(j.code, 0, j.stderr)
      const result = JSON.parse(j.stdout)
      assert.equal(result.cid, (await importFile(big, nullSink)).cid.toString())
      assert.equal(result.size, big.length)
      assert.equal(result.name, 'stdin')
      assert.equal(result.replication.short, 0)
      assert.equal(j.stderr, '')
    })

    it('-n computes the same CID with no daemon at all (file, stdin, -r tree, options)', async () => {
      const { dir: nowhere, cleanup: done } = await tempDir('shoal-no-daemon-')
      try {
        // a repo whose daemon would be on a port nobody listens on
        await fs.writeFile(path.join(nowhere, 'config.json'), JSON.stringify({ rpc: '127.0.0.1:1' }))
        const offline = async (args: string[], stdin?: Uint8Array): Promise<string> => {
          const r = await runCli(['add', '-n', '-Q', ...args, '--repo', nowhere], {}, stdin)
          assert.equal(r.code, 0, r.stderr)
          return r.stdout.trim()
        }
        assert.equal(await offline([bigFile]), await addQuiet([bigFile]))
        assert.equal(await offline(['-'], Buffer.from('hello')), HELLO_V1)
        assert.equal(await offline(['--cid-version', '0', '--chunker', 'size-65536', bigFile]), await addQuiet(['--cid-version', '0', '--chunker', 'size-65536', bigFile]))
        assert.equal(await offline(['-r', tree]), await addQuiet(['-r', tree]))
        assert.deepEqual(await fs.readdir(nowhere), ['config.json'], 'only-hash stores nothing')
        // and the daemon's pins did not grow from -n
        const text = await runCli(['add', '-n', bigFile, '--repo', nowhere])
        assert.equal(text.stdout, `added ${await offline([bigFile])} big.bin\n`)
      } finally {
        await done()
      }
    })

    it('-r a tree: ls lists it, get -o recreates it', async () => {
      const cid = await addQuiet(['-r', tree])
      const ls = await shoal(['ls', cid])
      assert.equal(ls.code, 0, ls.stderr)
      const rows = ls.stdout.trimEnd().split('\n').map(l => l.split(/\s+/))
      assert.deepEqual(rows.map(r => r[2]), ['a.txt', 'empty/', 'sub/'])
      assert.deepEqual(rows.map(r => r[1]), ['6', rows[1][1], rows[2][1]])
      for (const r of rows) assert.match(r[0], CID_RE)
      const json = JSON.parse((await shoal(['ls', '--json', cid])).stdout)
      assert.deepEqual(json.map((e: { name: string, type: string }) => [e.name, e.type]), [['a.txt', 'raw'], ['empty', 'directory'], ['sub', 'directory']])

      const out = path.join(dir, 'got-tree')
      const got = await shoal(['get', cid, '-o', out])
      assert.equal(got.code, 0, got.stderr)
      assert.equal(got.stdout, `saved ${cid} to ${out}\n`)
      assert.ok(!got.stderr.includes('\r'))
      assert.deepEqual(await readTree(out), await readTree(tree))
    })

    it('--no-pin adds without pinning; pin ls shows what add pinned', async () => {
      const unpinned = await addQuiet(['--no-pin', '-'], crypto.randomBytes(5000))
      const pinned = await addQuiet(['-'], crypto.randomBytes(5000))
      const pins = JSON.parse((await shoal(['pin', 'ls', '--json'])).stdout).map((p: { cid: string }) => p.cid)
      assert.ok(pins.includes(pinned))
      assert.ok(!pins.includes(unpinned))
    })
  })

  describe('cat and get', () => {
    let cid: string
    before(async () => { cid = await addQuiet([bigFile]) })

    it('cat writes the bytes to stdout, and --offset/--length a range', async () => {
      const r = await shoal(['cat', cid])
      assert.equal(r.code, 0, r.stderr)
      assert.ok(r.bytes.equals(big), 'the bytes differ')
      assert.equal(r.stdout, '')
      assert.equal(r.stderr, '')
      const part = await shoal(['cat', '--offset', '1000', '--length', '300000', cid])
      assert.ok(part.bytes.equals(big.subarray(1000, 301_000)))
      assertOneLineFailure(await shoal(['cat', '--offset=-5', cid]), /--offset must be a whole number/)
    })

    it('get -o writes a file (no partial file left) and says where', async () => {
      const out = path.join(dir, 'got.bin')
      const r = await shoal(['get', cid, '-o', out])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout, `saved ${cid} to ${out}\n`)
      assert.ok(!r.stderr.includes('\r'), 'no progress bar')
      assert.ok((await fs.readFile(out)).equals(big))
      assert.ok(!(await fs.readdir(dir)).some(n => n.endsWith('.shoal-partial')))
      const quiet = await shoal(['get', '-Q', cid, '-o', path.join(dir, 'got2.bin')])
      assert.equal(quiet.stdout, '')
      assert.ok((await fs.readFile(path.join(dir, 'got2.bin'))).equals(big))
    })

    it('get -o into a FIFO (or a device such as /dev/null) writes through it and leaves it a FIFO', async () => {
      const fifo = path.join(dir, 'fifo')
      execFileSync('mkfifo', [fifo])
      // the reader is another process, as in `shoal get CID -o fifo & sha256sum fifo`
      const reader = spawn('sha256sum', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] })
      let digest = ''
      reader.stdout.on('data', (c: Buffer) => { digest += c.toString() })
      const exited = once(reader, 'close')
      // a second name for the FIFO: if get replaced it, the reader (blocked in open) is released through this one
      const spare = path.join(dir, 'fifo-spare-name')
      await fs.link(fifo, spare)
      const r = await shoal(['get', '-Q', cid, '-o', fifo])
      const replaced = !(await fs.stat(fifo)).isFIFO()
      if (replaced) await (await fs.open(spare, 'w')).close()
      await exited
      assert.equal(replaced, false, 'the FIFO was replaced by a regular file')
      assert.equal(r.code, 0, r.stderr)
      assert.equal(digest.split(' ')[0], crypto.createHash('sha256').update(big).digest('hex'))
      assert.ok(!(await fs.readdir(dir)).some(n => n.startsWith('fifo.')), 'no partial file next to it')
    })

    it('cat whose reader goes away (EPIPE, as with | head) exits 0 quietly', async () => {
      let stderr = ''
      let written = 0
      const input = new PassThrough()
      input.end()
      const io: CliIO = {
        stdout: () => {},
        stderr: t => { stderr += t },
        binaryOut: new Writable({
          write (chunk: Buffer, _encoding, callback) {
            written += chunk.length
            callback(written > 100_000 ? Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }) : null)
          }
        }),
        stdin: input,
        env: {},
        isTTY: false
      }
      const code = await main(['cat', cid, '--repo', d.repo], io)
      assert.equal(stderr, '')
      assert.equal(code, 0)
      assert.ok(written > 100_000 && written < big.length, String(written))
      // a real write error is still an error
      const failing = await main(['cat', cid, '--repo', d.repo], {
        ...io,
        binaryOut: new Writable({ write (_c, _e, callback) { callback(Object.assign(new Error('write EIO'), { code: 'EIO' })) } })
      })
      assert.equal(failing, 1)
      assert.match(stderr, /^shoal cat failed: write EIO\n$/)
    })

    it('stat shows the type, size and replicas (text and --json)', async () => {
      const r = await shoal(['stat', cid])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, new RegExp(`^cid +${cid}$`, 'm'))
      assert.match(r.stdout, /^type +file$/m)
      assert.match(r.stdout, new RegExp(`^size +${big.length} \\(3\\.0 MiB\\)$`, 'm'))
      assert.match(r.stdout, /^blocks +14$/m)
      assert.match(r.stdout, /^replicas +0: 0, 1: 14 \(blocks by confirmed replicas, k=1\)/m)
      const j = JSON.parse((await shoal(['stat', '--json', cid])).stdout)
      assert.equal(j.size, big.length)
      assert.equal(j.type, 'file')
      assert.deepEqual(j.replicas.histogram, [0, 14])
      assert.deepEqual(j.replicas.rootHolders, [d.daemon.node.peerId.toString()])
    })
  })

  describe('pin, gc and repo stat', () => {
    it('pin rm then gc removes the blocks; pin add again refuses what is gone; repo stat follows', async () => {
      // a fresh file: 2 leaves and a root
      const bytes = crypto.randomBytes(2 * 256 * 1024)
      const cid = await addQuiet(['-'], bytes)
      const stat0 = JSON.parse((await shoal(['repo', 'stat', '--json'])).stdout)

      const ls = await shoal(['pin', 'ls'])
      // Kubo's lines: the root, then its 2 leaves as indirect pins
      assert.match(ls.stdout, new RegExp(`^${cid} recursive$`, 'm'))
      assert.equal(ls.stdout.split('\n').filter(l => l.endsWith(` indirect through ${cid}`)).length, 2)
      assert.equal((await shoal(['pin', 'rm', cid])).stdout, `unpinned ${cid}\n`)
      assert.ok(!(await shoal(['pin', 'ls'])).stdout.includes(cid))
      assertOneLineFailure(await shoal(['pin', 'rm', cid]), /is not pinned/)

      // pin add again while the blocks are still here
      const again = await shoal(['pin', 'add', cid])
      assert.equal(again.stdout, `pinned ${cid} (3 blocks)\n`)
      const gcKept = await shoal(['gc', '--json'])
      assert.equal(gcKept.code, 0, gcKept.stderr)
      assert.equal((await shoal(['cat', cid])).bytes.length, bytes.length, 'gc kept the pinned file')

      assert.equal((await shoal(['pin', 'rm', cid])).code, 0)
      const gc = await shoal(['gc'])
      assert.equal(gc.code, 0, gc.stderr)
      const m = /^removed (\d+) blocks, freed ([\d.]+ [KM]?i?B)\n$/.exec(gc.stdout)
      assert.ok(m != null, gc.stdout)
      assert.ok(Number(m[1]) >= 3)
      const stat1 = JSON.parse((await shoal(['repo', 'stat', '--json'])).stdout)
      assert.ok(stat1.blocks <= stat0.blocks - 3, `${stat1.blocks} vs ${stat0.blocks}`)
      assert.ok(stat1.bytes <= stat0.bytes - bytes.length)
      assert.equal(stat1.pins, stat0.pins - 1)
      assertOneLineFailure(await shoal(['pin', 'add', cid]), /not stored on this node|none has it/)

      const text = await shoal(['repo', 'stat'])
      assert.match(text.stdout, new RegExp(`^blocks +${stat1.blocks}$`, 'm'))
      assert.match(text.stdout, new RegExp(`^pins +${stat1.pins}$`, 'm'))
      assert.match(text.stdout, /^disk free +[\d.]+ [KMGT]?i?B of [\d.]+ [KMGT]?i?B$/m)
    })
  })

  describe('errors: one line and a non-zero exit', () => {
    it('a missing file', async () => {
      assertOneLineFailure(await shoal(['add', path.join(dir, 'nope.bin')]), /^Cannot add ".*nope\.bin": no such file or directory\n$/)
    })

    it('a directory without -r', async () => {
      assertOneLineFailure(await shoal(['add', tree]), /it is a directory \(use -r/)
    })

    it('a string that is not a CID (cat, get, ls, stat, pin add)', async () => {
      for (const cmd of [['cat'], ['get'], ['ls'], ['stat'], ['pin', 'add']]) {
        assertOneLineFailure(await shoal([...cmd, 'not-a-cid']), /^Invalid CID "not-a-cid"/)
      }
    })

    it('a CID not stored here, answered fast (cat, get, ls, stat)', async () => {
      const missing = (await importFile(crypto.randomBytes(64), nullSink)).cid.toString()
      const started = Date.now()
      for (const cmd of ['cat', 'get', 'ls', 'stat']) {
        assertOneLineFailure(await shoal([cmd, missing]), new RegExp(`"${missing}"`))
      }
      assert.ok(Date.now() - started < 10_000)
      assert.ok(!(await fs.readdir(process.cwd())).includes(missing), 'get left nothing behind')
    })

    it('cat of a directory, ls of a file', async () => {
      const dirCid = await addQuiet(['-r', tree])
      assertOneLineFailure(await shoal(['cat', dirCid]), /it is a directory/)
      assertOneLineFailure(await shoal(['ls', HELLO_V1]), /not a directory/)
    })

    it('bad flags: exit 2 with a pointer to --help', async () => {
      const r = await shoal(['add', '--cid-version', '2', bigFile])
      assert.equal(r.code, 2)
      assert.match(r.stderr, /--cid-version must be 0 or 1/)
      assert.match(r.stderr, /shoal add --help/)
      const chunker = await shoal(['add', '--chunker', 'nope', bigFile])
      assert.notEqual(chunker.code, 0)
      assert.match(chunker.stderr, /^Invalid chunker "nope"/)
    })

    it('with no daemon: one line naming the address', async () => {
      const { dir: nowhere, cleanup: done } = await tempDir('shoal-no-daemon-')
      try {
        await fs.writeFile(path.join(nowhere, 'config.json'), JSON.stringify({ rpc: '127.0.0.1:1' }))
        for (const args of [['add', bigFile], ['cat', HELLO_V1], ['get', HELLO_V1], ['pin', 'ls'], ['gc'], ['repo', 'stat']]) {
          const r = await runCli([...args, '--repo', nowhere])
          assertOneLineFailure(r, /^Cannot reach the shoal daemon at 127\.0\.0\.1:1: is "shoal daemon" running\?\n$/)
        }
      } finally {
        await done()
      }
    })
  })

  describe('progress on a terminal', () => {
    /** runCli with a TTY on stdout */
    const onTty = async (argv: string[]): Promise<{ code: number, stdout: string, stderr: string }> => {
      let stdout = ''
      let stderr = ''
      const input = new PassThrough()
      input.end()
      const io: CliIO = { stdout: t => { stdout += t }, stderr: t => { stderr += t }, binaryOut: new PassThrough().resume(), stdin: input, env: {}, isTTY: true }
      const code = await main([...argv, '--repo', d.repo], io)
      return { code, stdout, stderr }
    }

    it('add and get draw a bar with bytes and rate on stderr (add: what the daemon imported, then the copies confirmed); -Q draws none', async () => {
      const add = await onTty(['add', bigFile])
      assert.equal(add.code, 0, add.stderr)
      assert.match(add.stderr, /\r\x1b\[2Kadding big\.bin \[#{24}\] 100% 3\.0 MiB\/3\.0 MiB [\d.]+ [KMG]?i?B\/s, (\d+)\/\1 copies confirmed\n/)
      const cid = add.stdout.split(' ')[1]
      const get = await onTty(['get', cid, '-o', path.join(dir, 'tty.bin')])
      assert.equal(get.code, 0, get.stderr)
      assert.match(get.stderr, /\r\x1b\[2Kgetting .*100% 3\.0 MiB\/3\.0 MiB/)
      const quiet = await onTty(['add', '-Q', bigFile])
      assert.equal(quiet.stderr, '')
      assert.equal(quiet.stdout, `${cid}\n`)
    })
  })
})
