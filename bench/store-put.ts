/**
 * Durable add throughput of the file blockstore: 1024 blocks of 256 KiB
 * (256 MiB) put through putMany and made durable with one sync(), as an add
 * does. CIDs are computed before the clock starts (the importer computes
 * them); put verifies every block once (sha2-256), writes a temp file,
 * fdatasyncs it and renames it; sync() fsyncs the touched directories.
 *
 * Modes, run interleaved so that a noisy machine hurts them alike:
 *   durable            FsBlockstore, fsync on (the real thing); put hashes every block
 *   durable-verified   the same with put({ verified: true }): the importer computed the CIDs
 *                      from these bytes, so put skips its hash (one hash per block per add)
 *   content-store      durable-verified through ContentStore.blocks in a writeSession (adds
 *                      the SQLite block index)
 *   no-fsync           FsBlockstore with fsync off; put hashes
 *   no-fsync-verified  fsync off, no put-side hash
 *   files-fsync    reference: 1024 files open/write/fdatasync/close, same concurrency, no hashing, no rename
 *   files          reference: the same without fdatasync (what creating 1024 files costs here)
 *   one-file       reference: the disk's ceiling, one 256 MiB file written and fsynced
 *
 *   node bench/store-put.ts [--runs 5] [--concurrency 32] [--dir /tmp] [--modes durable,no-fsync]
 */
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import { constants as fsConstants, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { ContentStore } from '../src/store/content-store.ts'
import { FsBlockstore } from '../src/store/fs-blockstore.ts'

const ALL_MODES = ['durable', 'durable-verified', 'content-store', 'no-fsync', 'no-fsync-verified', 'files-fsync', 'files', 'one-file'] as const
type Mode = typeof ALL_MODES[number]

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    dir: { type: 'string', default: os.tmpdir() },
    blocks: { type: 'string', default: '1024' },
    'block-size': { type: 'string', default: String(256 * 1024) },
    modes: { type: 'string', default: ALL_MODES.join(',') },
    json: { type: 'boolean', default: false }
  }
})
const RUNS = Number(values.runs)
const CONCURRENCY = Number(values.concurrency)
const COUNT = Number(values.blocks)
const SIZE = Number(values['block-size'])
const TOTAL = COUNT * SIZE
const MODES = values.modes.split(',').map(m => {
  if (!(ALL_MODES as readonly string[]).includes(m)) throw new Error(`Unknown mode "${m}" (modes: ${ALL_MODES.join(', ')})`)
  return m as Mode
})

const blocks = await Promise.all(Array.from({ length: COUNT }, async () => {
  const bytes = crypto.randomBytes(SIZE)
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)
  return { cid: CID.createV1(raw.code, await sha256.digest(view)), bytes: view }
}))

async function pool (fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < COUNT) await fn(next++)
  }))
}

async function once (mode: Mode): Promise<number> {
  const root = await fs.mkdtemp(path.join(values.dir, 'shoal-bench-'))
  try {
    switch (mode) {
      case 'durable':
      case 'durable-verified':
      case 'no-fsync':
      case 'no-fsync-verified': {
        const store = await FsBlockstore.open({ root, fsync: mode.startsWith('durable'), maxConcurrentWrites: CONCURRENCY })
        const start = performance.now()
        await store.putMany(blocks, { concurrency: CONCURRENCY, verified: mode.endsWith('-verified') })
        await store.sync()
        return performance.now() - start
      }
      case 'content-store': {
        const store = await ContentStore.open({ dir: root, maxConcurrentWrites: CONCURRENCY })
        const start = performance.now()
        await store.writeSession(async () => {
          await store.blocks.putMany(blocks, { concurrency: CONCURRENCY, verified: true })
          await store.blocks.sync()
        })
        await store.stat() // flushes the index
        const ms = performance.now() - start
        await store.close()
        return ms
      }
      case 'files':
      case 'files-fsync': {
        const start = performance.now()
        await pool(async i => {
          const handle = await fs.open(path.join(root, String(i)), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL)
          await handle.write(blocks[i].bytes, 0, SIZE, 0)
          if (mode === 'files-fsync') await handle.datasync()
          await handle.close()
        })
        return performance.now() - start
      }
      case 'one-file': {
        const start = performance.now()
        const handle = await fs.open(path.join(root, 'one'), 'wx')
        for (const b of blocks) await handle.write(b.bytes)
        await handle.sync()
        await handle.close()
        return performance.now() - start
      }
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true })
  }
}

function cpuPressure (): string {
  try {
    return readFileSync('/proc/pressure/cpu', 'utf8').split('\n')[0].replace(/^some /, '')
  } catch {
    return 'n/a'
  }
}

const mbps = (ms: number): number => (TOTAL / 1e6) / (ms / 1000)
const results = new Map<Mode, number[]>(MODES.map(m => [m, []]))
const loadBefore = os.loadavg()
for (let run = 0; run < RUNS; run++) {
  for (const mode of MODES) {
    results.get(mode)?.push(mbps(await once(mode)))
    await new Promise(resolve => setTimeout(resolve, 300))
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
if (values.json) {
  console.log(JSON.stringify({ blocks: COUNT, blockSize: SIZE, concurrency: CONCURRENCY, runs: RUNS, results: Object.fromEntries(results) }))
} else {
  console.log(`store-put: ${COUNT} blocks x ${SIZE / 1024} KiB = ${TOTAL / 2 ** 20} MiB in ${values.dir}, concurrency ${CONCURRENCY}, ${RUNS} runs, node ${process.versions.node}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`)
  console.log(`  load average before ${loadBefore.map(x => x.toFixed(2)).join(' ')}, after ${os.loadavg().map(x => x.toFixed(2)).join(' ')}; cpu pressure ${cpuPressure()}`)
  for (const [mode, xs] of results) {
    console.log(`  ${mode.padEnd(18)} median ${median(xs).toFixed(0).padStart(5)} MB/s  best ${Math.max(...xs).toFixed(0).padStart(5)} MB/s  [${xs.map(x => x.toFixed(0)).join(', ')}]`)
  }
}
