/**
 * Kubo's CLI habits: add -q/-Q/-H/--pin=false and every entry of add -r,
 * symlinks through add and get (and get never writing through one), cat
 * -o/-l, ls -v, pin ls --type and pin ls CID. One daemon on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { runCli } from '../helpers/cli.ts'
import type { CliResult } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'

const CID_RE = /^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{58,})$/

function assertOneLineFailure (r: CliResult, pattern: RegExp, code = 1): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /^[^\n]+\n(Run "shoal [a-z]+ --help" for usage\.\n)?$/, `one line: ${JSON.stringify(r.stderr)}`)
  assert.match(r.stderr, pattern)
}

interface Entry { path: string, cid: string, type: string, size: number }

describe('cli: Kubo\'s habits', function () {
  this.timeout(30_000)
  let d: TestDaemon
  let dir: string
  let cleanup: () => Promise<void>
  let tree: string

  before(async () => {
    ({ dir, cleanup } = await tempDir('shoal-cli-kubo-'))
    d = await startTestDaemon()
    tree = path.join(dir, 'tree')
    await fs.mkdir(path.join(tree, 'sub', 'deeper'), { recursive: true })
    await fs.mkdir(path.join(tree, 'empty'))
    await fs.mkdir(path.join(tree, '.git'))
    await fs.writeFile(path.join(tree, '.git', 'HEAD'), 'ref: refs/heads/main\n')
    await fs.writeFile(path.join(tree, '.env'), 'SECRET=1\n')
    await fs.writeFile(path.join(tree, 'a.txt'), 'alpha\n')
    await fs.writeFile(path.join(tree, 'sub', 'b.txt'), 'beta\n')
    await fs.writeFile(path.join(tree, 'sub', 'deeper', 'c.txt'), 'gamma\n')
    await fs.symlink('sub/b.txt', path.join(tree, 'link-to-b'))
    await fs.symlink('../../../etc/passwd', path.join(tree, 'sub', 'far'))
  })
  after(async () => {
    await d?.stop()
    await cleanup()
  })

  const shoal = async (args: string[], stdin?: Uint8Array): Promise<CliResult> => await runCli([...args, '--repo', d.repo], {}, stdin)
  const ok = async (args: string[], stdin?: Uint8Array): Promise<string> => {
    const r = await shoal(args, stdin)
    assert.equal(r.code, 0, r.stderr)
    return r.stdout
  }
  const pinLines = async (...args: string[]): Promise<string[]> => (await ok(['pin', 'ls', ...args])).split('\n').filter(l => l !== '')

  describe('add', () => {
    it('-r prints "added CID tree/PATH" for every file, symlink and directory (the root last); -q the CIDs; -Q the root', async () => {
      const json = JSON.parse(await ok(['add', '-r', '--json', tree]))
      const entries = json.entries as Entry[]
      // files and symlinks in walk order, then directories children first; no dotfiles
      assert.deepEqual(entries.map(e => `${e.type} ${e.path}`), [
        'file a.txt', 'symlink link-to-b', 'file sub/b.txt', 'file sub/deeper/c.txt', 'symlink sub/far',
        'directory empty', 'directory sub/deeper', 'directory sub'
      ])
      for (const e of entries) assert.match(e.cid, CID_RE)
      assert.equal(entries.find(e => e.path === 'sub/far')?.size, '../../../etc/passwd'.length)

      const text = await ok(['add', '-r', tree])
      assert.equal(text, [...entries.map(e => `added ${e.cid} tree/${e.path}`), `added ${json.cid} tree`].join('\n') + '\n')
      assert.equal(await ok(['add', '-r', '-q', tree]), [...entries.map(e => e.cid), json.cid].join('\n') + '\n')
      assert.equal(await ok(['add', '-r', '--quiet', tree]), await ok(['add', '-r', '-q', tree]))
      assert.equal(await ok(['add', '-r', '-Q', tree]), `${json.cid}\n`)
      assert.equal(await ok(['add', '-r', '--quieter', tree]), `${json.cid}\n`)
      // a single file: -q and -Q print its CID alone
      const file = path.join(tree, 'a.txt')
      const single = await ok(['add', '-q', file])
      assert.match(single.trim(), CID_RE)
      assert.equal(await ok(['add', '-Q', file]), single)
      assert.equal(await ok(['add', file]), `added ${single.trim()} a.txt\n`)
    })

    it('-H includes names starting with "." (the root CID changes), as Kubo\'s --hidden', async () => {
      const plain = (await ok(['add', '-r', '-q', tree])).trim().split('\n')
      const hidden = await ok(['add', '-r', '-H', tree])
      assert.match(hidden, /^added \S+ tree\/\.env$/m)
      assert.match(hidden, /^added \S+ tree\/\.git\/HEAD$/m)
      assert.match(hidden, /^added \S+ tree\/\.git$/m)
      assert.notEqual(hidden.trim().split('\n').at(-1)?.split(' ')[1], plain.at(-1))
      assert.equal(await ok(['add', '-r', '--hidden', '-Q', tree]), `${hidden.trim().split('\n').at(-1)?.split(' ')[1]}\n`)
    })

    it('--pin=false (Kubo\'s spelling) and --no-pin add without pinning; --pin=true pins; --pin=maybe is refused', async () => {
      const recursive = async (): Promise<string[]> => await pinLines('--type', 'recursive', '-q')
      const a = (await ok(['add', '-Q', '--pin=false', '-'], Buffer.from('pin false'))).trim()
      const b = (await ok(['add', '-Q', '--no-pin', '-'], Buffer.from('no pin'))).trim()
      const c = (await ok(['add', '-Q', '--pin=true', '-'], Buffer.from('pin true'))).trim()
      const e = (await ok(['add', '-Q', '--pin', '-'], Buffer.from('pin'))).trim()
      const pins = await recursive()
      assert.ok(!pins.includes(a) && !pins.includes(b), 'not pinned')
      assert.ok(pins.includes(c) && pins.includes(e), 'pinned')
      const bad = await shoal(['add', '--pin=maybe', '-'], Buffer.from('x'))
      assert.equal(bad.code, 2)
      assert.match(bad.stderr, /--pin/)
      assert.match(bad.stderr, /shoal add --help/)
    })

    it('--help names the flags', async () => {
      const help = await ok(['add', '--help'])
      for (const flag of ['-q, --quiet', '-Q, --quieter', '-H, --hidden', '--pin', '--no-pin', '-r, --recursive']) assert.ok(help.includes(flag), flag)
      assert.match(await ok(['cat', '--help']), /-o, --offset N[\s\S]*-l, --length N/)
      assert.match(await ok(['ls', '--help']), /-v, --headers/)
      assert.match(await ok(['pin', '--help']), /-t, --type TYPE/)
    })
  })

  describe('symlinks and get', () => {
    it('get recreates a tree\'s symlinks as symlinks (not followed), again into the same place', async () => {
      const cid = (await ok(['add', '-r', '-Q', tree])).trim()
      const out = path.join(dir, 'got')
      for (let round = 0; round < 2; round++) {
        assert.equal(await ok(['get', cid, '-o', out]), `saved ${cid} to ${out}\n`)
        assert.equal(await fs.readlink(path.join(out, 'link-to-b')), 'sub/b.txt')
        assert.equal(await fs.readlink(path.join(out, 'sub', 'far')), '../../../etc/passwd')
        assert.equal(await fs.readFile(path.join(out, 'link-to-b'), 'utf8'), 'beta\n', 'a relative link inside the tree works')
        assert.equal(await fs.readFile(path.join(out, 'sub', 'deeper', 'c.txt'), 'utf8'), 'gamma\n')
        assert.deepEqual(await fs.readdir(path.join(out, 'empty')), [])
        assert.ok(!(await fs.readdir(out)).includes('.env'))
      }
    })

    it('add of a symlink adds the link itself; get of it makes the symlink', async () => {
      const link = path.join(dir, 'lonely-link')
      await fs.symlink('/nowhere/at/all', link)
      const cid = (await ok(['add', '-Q', link])).trim()
      assert.equal(cid, (await runCli(['add', '-n', '-Q', link, '--repo', d.repo])).stdout.trim())
      const stat = JSON.parse(await ok(['stat', '--json', cid]))
      assert.equal(stat.type, 'symlink')
      assert.equal(stat.target, '/nowhere/at/all')
      const out = path.join(dir, 'got-link')
      await ok(['get', cid, '-o', out])
      assert.equal(await fs.readlink(out), '/nowhere/at/all')
      assertOneLineFailure(await shoal(['cat', cid]), /it is a symlink/)
    })

    describe('a crafted tree never makes get write outside its directory', () => {
      /** Stores a block in the daemon (as a peer could have sent it) and returns its CID. */
      const put = async (bytes: Uint8Array, code: number = dagPb.code): Promise<CID> => {
        const cid = CID.create(1, code, await sha256.digest(bytes))
        await d.daemon.node.store.blocks.put(cid, bytes)
        return cid
      }
      const dirNode = async (links: Array<{ name: string, cid: CID }>): Promise<CID> =>
        await put(dagPb.encode({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: links.map(l => ({ Name: l.name, Hash: l.cid, Tsize: 10 })) }))
      const symlinkNode = async (target: string): Promise<CID> =>
        await put(dagPb.encode({ Data: new UnixFS({ type: 'symlink', data: new TextEncoder().encode(target) }).marshal(), Links: [] }))

      it('a symlink to ../../etc and then a directory of the same name: refused, nothing written through the link', async () => {
        // base/a/b/out/etc -> ../../etc is base/a/etc: the place an attacker wants "passwd" written
        const base = path.join(dir, 'escape1')
        const victim = path.join(base, 'a', 'etc')
        await fs.mkdir(victim, { recursive: true })
        const payload = await put(new TextEncoder().encode('root::0:0::/:/bin/sh\n'), raw.code)
        const evilDir = await dirNode([{ name: 'passwd', cid: payload }])
        const root = await dirNode([{ name: 'etc', cid: await symlinkNode('../../etc') }, { name: 'etc', cid: evilDir }])
        const out = path.join(base, 'a', 'b', 'out')
        assertOneLineFailure(await shoal(['get', '-Q', root.toString(), '-o', out]), /^Refusing to write into ".*etc": it is a symlink/)
        assert.deepEqual(await fs.readdir(victim), [], 'nothing was written through the link')
        assert.equal(await fs.readlink(path.join(out, 'etc')), '../../etc', 'the link itself is made, as tar does')
      })

      it('an entry whose name tries to leave the directory is refused', async () => {
        const base = path.join(dir, 'escape2')
        await fs.mkdir(base)
        const payload = await put(new TextEncoder().encode('gotcha\n'), raw.code)
        for (const name of ['../escaped', '..', 'a/../../escaped']) {
          const root = await dirNode([{ name, cid: payload }])
          const out = path.join(base, 'out')
          assertOneLineFailure(await shoal(['get', '-Q', root.toString(), '-o', out]), /^Refusing to write the entry .*not a plain name/)
        }
        assert.deepEqual(await fs.readdir(base), ['out'])
        assert.deepEqual(await fs.readdir(path.join(base, 'out')), [])
      })
    })
  })

  describe('cat, ls', () => {
    it('cat -o/--offset and -l/--length read a range (Kubo\'s short flags)', async () => {
      const cid = (await ok(['add', '-Q', '-'], Buffer.from('Hello Worlds!\n'))).trim()
      assert.equal((await shoal(['cat', '-o', '10', cid])).bytes.toString(), 'ds!\n')
      assert.equal((await shoal(['cat', '-l', '8', cid])).bytes.toString(), 'Hello Wo')
      assert.equal((await shoal(['cat', '-o', '6', '-l', '6', cid])).bytes.toString(), 'Worlds')
      assert.equal((await shoal(['cat', '--offset', '6', '--length', '100', cid])).bytes.toString(), 'Worlds!\n')
      assert.equal((await shoal(['cat', '-l', '0', cid])).bytes.length, 0)
      assertOneLineFailure(await shoal(['cat', '--length=-102', cid]), /--length must be a whole number/)
    })

    it('ls -v prints Kubo\'s header line (Hash Size Name)', async () => {
      const cid = (await ok(['add', '-r', '-Q', tree])).trim()
      const plain = (await ok(['ls', cid])).split('\n')
      const verbose = (await ok(['ls', '-v', cid])).split('\n')
      assert.match(verbose[0], /^Hash +Size +Name$/)
      assert.equal(verbose.length, plain.length + 1)
      assert.deepEqual(verbose.slice(1).map(l => l.split(/\s+/)), plain.map(l => l.split(/\s+/)))
      assert.ok(plain.some(l => / link-to-b$/.test(l)))
    })
  })

  describe('pin ls', () => {
    let root: string
    let direct: string

    before(async () => {
      // a file of 2 leaves (a recursive pin) and a direct pin
      root = (await ok(['add', '-Q', '-'], crypto.randomBytes(2 * 256 * 1024))).trim()
      direct = (await ok(['add', '-Q', '--pin=false', '-'], Buffer.from('direct pin'))).trim()
      await ok(['pin', 'add', '--direct', direct])
    })

    it('prints "CID TYPE" (Kubo): --type recursive, direct, indirect (with "through ROOT"), all (the default)', async () => {
      const recursive = await pinLines('--type', 'recursive')
      assert.ok(recursive.includes(`${root} recursive`), recursive.join('\n'))
      assert.ok(recursive.every(l => l.endsWith(' recursive')))
      assert.deepEqual(await pinLines('--type=direct'), [`${direct} direct`])
      const indirect = await pinLines('-t', 'indirect')
      const mine = indirect.filter(l => l.endsWith(` indirect through ${root}`))
      assert.equal(mine.length, 2, indirect.join('\n'))
      assert.ok(indirect.every(l => / indirect through \S+$/.test(l)))
      const all = await pinLines()
      assert.deepEqual(all, await pinLines('--type', 'all'))
      assert.deepEqual([...all].sort(), [...recursive, `${direct} direct`, ...indirect].sort())
      assert.deepEqual(await pinLines('-q', '--type', 'direct'), [direct])
    })

    it('pin ls CID says how it is pinned, and fails in one line when it is not', async () => {
      assert.deepEqual(await pinLines(root), [`${root} recursive`])
      assert.deepEqual(await pinLines(direct), [`${direct} direct`])
      const leaf = (await pinLines('--type', 'indirect')).find(l => l.endsWith(` through ${root}`))?.split(' ')[0] as string
      assert.deepEqual(await pinLines(leaf), [`${leaf} indirect through ${root}`])
      assert.deepEqual(await pinLines('--type', 'indirect', leaf), [`${leaf} indirect through ${root}`])
      assertOneLineFailure(await shoal(['pin', 'ls', '--type', 'direct', root]), new RegExp(`^"${root}" is not pinned directly\n$`))
      const loose = (await ok(['add', '-Q', '--pin=false', '-'], Buffer.from('loose'))).trim()
      assertOneLineFailure(await shoal(['pin', 'ls', loose]), new RegExp(`^"${loose}" is not pinned\n$`))
      const j = JSON.parse(await ok(['pin', 'ls', '--json', leaf]))
      assert.deepEqual(j, [{ cid: leaf, mode: 'indirect', through: root }])
    })

    it('a bad --type is one line', async () => {
      assertOneLineFailure(await shoal(['pin', 'ls', '--type', 'sideways']), /^Invalid pin type "sideways": expected recursive, direct, indirect, all\n$/)
      assertOneLineFailure(await shoal(['pin', 'add', '--type', 'direct', root]), /--type goes with pin ls/, 2)
    })
  })
})
