/**
 * Golden tests against Kubo: the same trees (names, contents, options) as
 * Kubo's own tests build, and the CIDs, and `ipfs add` output lines, that
 * those tests assert Kubo prints. Kubo cannot run here; every expected value
 * below is copied from the Kubo test named beside it (repository ipfs/kubo,
 * test/sharness/, unless said otherwise). Kubo's plain `ipfs add` is CIDv0
 * without raw leaves: shoal's `--cid-version 0`.
 *
 * Trees go through the CLI with `add -n` (no daemon) and through a daemon
 * (the multipart upload, symlinks as application/symlink parts); the large
 * HAMT trees go straight to the importer that both use.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import path from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { importDirectory, nullSink, SHARD_SPLIT_THRESHOLD_BYTES } from '../../src/content/importer.ts'
import type { DirectoryEntryInput } from '../../src/content/importer.ts'
import { runCli } from '../helpers/cli.ts'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'
import { tempDir } from '../helpers/tmp.ts'
import { MemoryBlocks } from '../content/helpers.ts'

/** A tree to write: path -> file content, `{ link }` for a symlink, `null` for an (empty) directory. */
type TreeSpec = Record<string, string | { link: string } | null>

async function writeTree (root: string, spec: TreeSpec): Promise<void> {
  for (const [rel, value] of Object.entries(spec)) {
    const abs = path.join(root, rel)
    if (value === null) {
      await fs.mkdir(abs, { recursive: true })
      continue
    }
    await fs.mkdir(path.dirname(abs), { recursive: true })
    if (typeof value === 'string') await fs.writeFile(abs, value)
    else await fs.symlink(value.link, abs)
  }
}

// t0042-add-skip.sh: `ipfs add -r mountdir/planets` and `ipfs add -r --hidden mountdir/planets`
const PLANETS_HIDDEN: TreeSpec = {
  'planets/mars.txt': 'Hello Mars\n',
  'planets/venus.txt': 'Hello Venus\n',
  'planets/.pluto.txt': 'Hello Pluto\n',
  'planets/.charon.txt': 'Hello Charon\n',
  'planets/.asteroids/ceres.txt': 'Hello Ceres\n',
  'planets/.asteroids/pallas.txt': 'Hello Pallas\n',
  'dotfiles/.vimrc': 'set nocompatible\n'
}
const T0042_DEFAULT = [
  'added QmZy3khu7qf696i5HtkgL2NotsCZ8wzvNZJ1eUdA5n8KaV planets/mars.txt',
  'added QmQnv4m3Q5512zgVtpbJ9z85osQrzZzGRn934AGh6iVEXz planets/venus.txt',
  'added QmR8nD1Vzk5twWVC6oShTHvv7mMYkVh6dApCByBJyV2oj3 planets'
]
const T0042_HIDDEN = [
  'added QmcAREBcjgnUpKfyFmUGnfajA1NQS5ydqRp7WfqZ6JF8Dx planets/.asteroids/ceres.txt',
  'added QmZ5eaLybJ5GUZBNwy24AA9EEDTDpA4B8qXnuN3cGxu2uF planets/.asteroids/pallas.txt',
  'added QmaowqjedBkUrMUXgzt9c2ZnAJncM9jpJtkFfgdFstGr5a planets/.charon.txt',
  'added QmU4zFD5eJtRBsWC63AvpozM9Atiadg9kPVTuTrnCYJiNF planets/.pluto.txt',
  'added QmZy3khu7qf696i5HtkgL2NotsCZ8wzvNZJ1eUdA5n8KaV planets/mars.txt',
  'added QmQnv4m3Q5512zgVtpbJ9z85osQrzZzGRn934AGh6iVEXz planets/venus.txt',
  'added Qmf6rbs5GF85anDuoxpSAdtuZPM9D2Yt3HngzjUVSQ7kDV planets/.asteroids',
  'added QmetajtFdmzhWYodAsZoVZSiqpeJDAiaw2NwbM3xcWcpDj planets'
]
// t0042-add-skip.sh: a hidden file named on the command line is added even without --hidden
const T0042_VIMRC = 'added QmT4uMRDCN7EMpFeqwvKkboszbqeW1kWVGrBxBuCGqZcQc .vimrc'

// t0044-add-symlink.sh: files/foo/baz, and two symlinks (one dangling)
const SYMLINKS: TreeSpec = {
  'files/foo/baz': 'some text\n',
  'files/bar/baz': { link: 'files/foo/baz' },
  'files/bad': { link: 'files/does/not/exist' }
}
const T0044_TREE = 'QmWdiHKoeSW8G1u7ATCgpx4yMoUhYaJBQGkyPLkS9goYZ8' // ipfs add -q -r files | tail -n 1
const T0044_GOODLINK = 'QmdocmZeF7qwPT9Z8SiVhMSyKA2KKoA2J7jToW6z6WBmxR' // ipfs add -q files/bar/baz: the link itself
const T0044_BADLINK = 'QmWYN8SEXCgNT2PSjB6BnxAx6NJQtazWoBkTRH9GRfPFFQ' // ipfs add -q files/bad
// ipfs add -q -r --cid-version=1 files: zdj7WZDQ2xMmr4qn6aRZTsE9fCUs2KmvPigpHdpssqUobwcWK (base58btc), in an older
// t0044-add-symlink.sh (go-ipfs as vendored in dolthub/dolt, vendor/github.com/ipfs/go-ipfs/test/sharness/); here in base32
const T0044_TREE_V1 = 'bafybeibyhlx64cklod6isy3h7tsmr4qvam3ae3b74n3hfes5bythjrwyua'

// t0040-add-and-cat.sh: `ipfs add -rn mountdir/moons`, nested directories: files first, then directories children first
const MOONS: TreeSpec = {
  'moons/jupiter/europa.txt': 'Hello Europa!\n',
  'moons/saturn/titan.txt': 'Hello Titan!\n',
  'moons/mercury.txt': 'hey youre no moon!\n'
}
const T0040_MOONS = [
  'added Qmbjg7zWdqdMaK2BucPncJQDxiALExph5k3NkQv5RHpccu moons/jupiter/europa.txt',
  'added QmUJjVtnN8YEeYcS8VmUeWffTWhnMQAkk5DzZdKnPhqUdK moons/mercury.txt',
  'added QmZzppb9WHn552rmRqpPfgU5FEiHH6gDwi3MrB9cTdPwdb moons/saturn/titan.txt',
  'added QmS5mZddhFPLWFX3w6FzAy9QxyYkaxvUpsWCtZ3r7jub9J moons/jupiter',
  'added QmaMagZT4rTE7Nonw8KGSK4oe1bh533yhZrCo1HihSG8FK moons/saturn',
  'added QmVKvomp91nMih5j6hYBA8KjbiaYvEetU2Q7KvtZkLe9nQ moons'
]
// t0040-add-and-cat.sh: `ipfs add -r mountdir/planets` with "Hello Mars!" / "Hello Venus!", plain and --cid-version=1
const PLANETS: TreeSpec = { 'planets/mars.txt': 'Hello Mars!\n', 'planets/venus.txt': 'Hello Venus!\n' }
const T0040_PLANETS_V0 = 'QmWSgS32xQEcXMeqd3YPJLrNBLSdsfYCep2U7CFkyrjXwY'
const T0040_PLANETS_V1 = [
  'added bafkreibmlvvgdyihetgocpof6xk64kjjzdeq2e4c7hqs3krdheosk4tgj4 planets/mars.txt',
  'added bafkreihfsphazrk2ilejpekyltjeh5k4yvwgjuwg26ueafohqioeo3sdca planets/venus.txt',
  'added bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi planets'
]

// t0250-files-api.sh: the emptied MFS root, `ipfs files stat --hash /` after chcid --cid-version=1, then 0
const EMPTY_DIR_V1 = 'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354'
const EMPTY_DIR_V0 = 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn'

// t0260-sharding.sh: testdata/file1..file2000 holding "$i\n"
const T0260_UNSHARDED = 'QmavrTrQG4VhoJmantURAYuw3bowq3E2WcvP36NRQDAC1N' // Internal.UnixFSShardingSizeThreshold "1G" (and the default)
const T0260_SHARDED = 'QmSCJD1KYLhVVHqBK3YyXuoEqHt7vggyJhzoFYbT8v1XYL' // threshold "1B": every directory a HAMT
const T0260_SHARDED_V1 = 'bafybeibiemewfzzdyhq2l74wrd6qj2oz42usjlktgnlqv4yfawgouaqn4u' // the same, --cid-version=1
const T0260_FILE100 = 'QmZ3RfWk1u5LEGYLHA633B5TNJy3Du27K6Fny9wcxpowGS' // ipfs resolve /ipfs/$SHARDED/file100
// t0260-sharding.sh (and t0250-files-api.sh): big_dir/file000001..file005960 holding "$i\n", the default
// threshold (256 KiB): 5960 links of 10 + 34 bytes estimate 262 240 bytes, above it, so Kubo shards it
const T0260_LARGE_SHARDED = 'QmWfjnRWRvdvYezQWnfbvrvY7JjrpevsE9cato1x76UqGr'
// ... and without file000001..file000005 (5955 links, 262 020 bytes, below it): a plain directory. Kubo printed
// this one for the MFS directory left after `ipfs files rm` of those five, the node an add of that tree makes.
const T0260_LARGE_MINUS_5_UNSHARDED = 'QmbVxi5zDdzytrjdufUejM92JsWj8wGVmukk6tiPce3p1m'

describe('Kubo golden CIDs', function () {
  this.timeout(60_000)
  let dir: string
  let cleanup: () => Promise<void>
  let nowhere: string
  let d: TestDaemon

  before(async () => {
    ({ dir, cleanup } = await tempDir('shoal-kubo-golden-'))
    nowhere = path.join(dir, 'nowhere')
    await fs.mkdir(nowhere)
    // a repo whose daemon would be on a port nobody listens on: add -n needs none
    await fs.writeFile(path.join(nowhere, 'config.json'), JSON.stringify({ rpc: '127.0.0.1:1' }))
    await writeTree(path.join(dir, 't0042'), PLANETS_HIDDEN)
    await writeTree(path.join(dir, 't0044'), SYMLINKS)
    await writeTree(path.join(dir, 't0040'), { ...MOONS, ...PLANETS })
    await writeTree(path.join(dir, 'empty'), { 'tree/empty': null, 'tree/sub/empty': null, 'tree/a.txt': 'a\n' })
    d = await startTestDaemon()
  })
  after(async () => {
    await d?.stop()
    await cleanup()
  })

  /** `shoal add ARGS` without a daemon and through the daemon: the same stdout from both, returned as lines. */
  const add = async (args: string[]): Promise<string[]> => {
    const offline = await runCli(['add', '-n', ...args, '--repo', nowhere])
    assert.equal(offline.code, 0, offline.stderr)
    const online = await runCli(['add', ...args, '--repo', d.repo])
    assert.equal(online.code, 0, online.stderr)
    assert.equal(online.stdout, offline.stdout, 'the daemon and --only-hash agree')
    return offline.stdout.trimEnd().split('\n')
  }

  it('dotfiles: skipped by add -r as Kubo does, included with -H; a dotfile named on the command line is added (t0042)', async () => {
    assert.deepEqual(await add(['-r', '--cid-version', '0', path.join(dir, 't0042', 'planets')]), T0042_DEFAULT)
    assert.deepEqual(await add(['-r', '-H', '--cid-version', '0', path.join(dir, 't0042', 'planets')]), T0042_HIDDEN)
    assert.deepEqual(await add(['--cid-version', '0', path.join(dir, 't0042', 'dotfiles', '.vimrc')]), [T0042_VIMRC])
  })

  it('symlinks: added as UnixFS symlinks, in a tree and alone, v0 and v1 (t0044)', async () => {
    const files = path.join(dir, 't0044', 'files')
    assert.equal((await add(['-q', '-r', '--cid-version', '0', files])).at(-1), T0044_TREE)
    assert.equal((await add(['-q', '-r', files])).at(-1), T0044_TREE_V1)
    assert.deepEqual(await add(['-q', '--cid-version', '0', path.join(files, 'bar', 'baz')]), [T0044_GOODLINK])
    assert.deepEqual(await add(['-q', '--cid-version', '0', path.join(files, 'bad')]), [T0044_BADLINK])
    // what Kubo's add -q -r prints before the root: the symlinks are among the entries
    const entries = await add(['-q', '-r', '--cid-version', '0', files])
    assert.ok(entries.includes(T0044_GOODLINK) && entries.includes(T0044_BADLINK), entries.join(' '))
  })

  it('add -r prints every file, then every directory children first, as Kubo (t0040)', async () => {
    assert.deepEqual(await add(['-r', '--cid-version', '0', path.join(dir, 't0040', 'moons')]), T0040_MOONS)
    assert.deepEqual(await add(['-r', '-Q', '--cid-version', '0', path.join(dir, 't0040', 'planets')]), [T0040_PLANETS_V0])
    assert.deepEqual(await add(['-r', path.join(dir, 't0040', 'planets')]), T0040_PLANETS_V1)
  })

  it('empty directories inside a tree are Kubo\'s empty directory node, v0 and v1 (t0250)', async () => {
    // (no Kubo output was found for a whole tree holding an empty directory: its entries are checked)
    const tree = path.join(dir, 'empty', 'tree')
    const v0 = await add(['-r', '--cid-version', '0', tree])
    assert.ok(v0.includes(`added ${EMPTY_DIR_V0} tree/empty`), v0.join('\n'))
    assert.ok(v0.includes(`added ${EMPTY_DIR_V0} tree/sub/empty`), v0.join('\n'))
    const v1 = await add(['-r', tree])
    assert.ok(v1.includes(`added ${EMPTY_DIR_V1} tree/empty`), v1.join('\n'))
    // an empty directory alone
    assert.deepEqual(await add(['-r', '-Q', '--cid-version', '0', path.join(tree, 'empty')]), [EMPTY_DIR_V0])
  })

  describe('HAMT sharding (t0260)', () => {
    const encoder = new TextEncoder()
    const files = (from: number, to: number, name: (i: number) => string): DirectoryEntryInput[] =>
      Array.from({ length: to - from + 1 }, (_, k) => ({ path: name(from + k), content: [encoder.encode(`${from + k}\n`)] }))
    const testdata = (): DirectoryEntryInput[] => files(1, 2000, i => `file${i}`)
    const bigDir = (from: number): DirectoryEntryInput[] => files(from, 5960, i => `file${String(i).padStart(6, '0')}`)
    const rootType = (blocks: MemoryBlocks, cid: string): string => {
      const node = dagPb.decode(blocks.blocks.get(cid) as Uint8Array)
      return UnixFS.unmarshal(node.Data as Uint8Array).type
    }

    it('shoal shards where Kubo does: 256 KiB of estimated links (names + CID bytes), fanout 256', async () => {
      assert.equal(SHARD_SPLIT_THRESHOLD_BYTES, 256 * 1024, 'Kubo\'s Import.UnixFSHAMTDirectorySizeThreshold')
      const sharded = new MemoryBlocks()
      const big = await importDirectory(bigDir(1), sharded, { cidVersion: 0 })
      assert.equal(big.cid.toString(), T0260_LARGE_SHARDED)
      assert.equal(rootType(sharded, big.cid.toString()), 'hamt-sharded-directory')
      // Kubo's fanout (Import.UnixFSHAMTDirectoryMaxFanout, 256), as the root shard records it
      const root = dagPb.decode(sharded.blocks.get(big.cid.toString()) as Uint8Array)
      assert.equal(UnixFS.unmarshal(root.Data as Uint8Array).fanout, 256n)
      const flat = new MemoryBlocks()
      const below = await importDirectory(bigDir(6), flat, { cidVersion: 0 })
      assert.equal(below.cid.toString(), T0260_LARGE_MINUS_5_UNSHARDED)
      assert.equal(rootType(flat, below.cid.toString()), 'directory')
    })

    it('2000 entries: a plain directory by default, Kubo\'s HAMT when every directory is sharded (v0 and v1)', async () => {
      assert.equal((await importDirectory(testdata(), nullSink, { cidVersion: 0 })).cid.toString(), T0260_UNSHARDED)
      const blocks = new MemoryBlocks()
      const sharded = await importDirectory(testdata(), blocks, { cidVersion: 0, shardSplitThresholdBytes: 1 })
      assert.equal(sharded.cid.toString(), T0260_SHARDED)
      assert.equal(sharded.entries.find(e => e.path === 'file100')?.cid.toString(), T0260_FILE100)
      assert.equal((await importDirectory(testdata(), nullSink, { cidVersion: 1, shardSplitThresholdBytes: 1 })).cid.toString(), T0260_SHARDED_V1)
    })
  })
})
