/**
 * Import throughput of the content layer into a null sink (hashing and DAG
 * building only, no storage), next to the single-core SHA-256 rate that bounds
 * it. Not run by the tests:
 *
 *   node bench/content-import.ts [MiB=256] [rounds=3]
 *
 * Input: MiB of random bytes fed as 64 KiB pieces (what a socket or a default
 * fs stream gives: chunks are copied once to be contiguous) and as 1 MiB
 * pieces (a file read with a large highWaterMark: chunks are views, no copy).
 * "cold" = the bytes come from a buffer far larger than the CPU caches,
 * "hot" = the same 4 MiB again and again (data that just arrived). SHA-256 is
 * node:crypto (OpenSSL, SHA-NI where the CPU has it), as multiformats uses.
 * Each row is the best of `rounds`; MB = 10^6 bytes.
 */
import crypto from 'node:crypto'
import { importer } from 'ipfs-unixfs-importer'
import { cat } from '../src/content/exporter.ts'
import { fastcdcCutPoints } from '../src/content/fastcdc.ts'
import { importFile, nullSink } from '../src/content/importer.ts'
import type { CID } from 'multiformats/cid'

const MIB = 1024 * 1024
const total = Number(process.argv[2] ?? 256) * MIB
const rounds = Number(process.argv[3] ?? 3)

const cold = crypto.randomBytes(total)
const hot = crypto.randomBytes(4 * MIB)

function * input (source: Uint8Array, piece: number): Generator<Uint8Array> {
  for (let i = 0; i < total; i += piece) {
    const at = i % source.length
    yield source.subarray(at, Math.min(at + piece, source.length))
  }
}

interface Row { name: string, wall: number, cpu: number }
const rows: Row[] = []

async function measure (name: string, fn: () => Promise<void> | void): Promise<void> {
  let best: Row = { name, wall: 0, cpu: 0 }
  for (let r = 0; r < rounds; r++) {
    const t = performance.now()
    const c = process.cpuUsage()
    await fn()
    const wall = (performance.now() - t) / 1000
    const cu = process.cpuUsage(c)
    const cpu = (cu.user + cu.system) / 1e6
    const row = { name, wall: total / 1e6 / wall, cpu: total / 1e6 / cpu }
    if (row.wall > best.wall) best = row
  }
  rows.push(best)
  console.error(`${name}: ${best.wall.toFixed(0)} MB/s`)
}

function sha (source: Uint8Array): void {
  for (let i = 0; i < total; i += 262144) {
    const at = i % source.length
    crypto.createHash('sha256').update(source.subarray(at, at + 262144)).digest()
  }
}

await measure('sha2-256, 256 KiB blocks, hot', () => sha(hot))
await measure('sha2-256, 256 KiB blocks, cold', () => sha(cold))
await measure('fastcdc cut points only, cold', () => { fastcdcCutPoints(cold.subarray(0, total)) })
for (const [label, source] of [['hot', hot], ['cold', cold]] as const) {
  for (const piece of [64 * 1024, MIB]) {
    const p = piece === MIB ? '1 MiB' : '64 KiB'
    await measure(`import size-262144, ${p} pieces, ${label}`, async () => { await importFile(input(source, piece), nullSink, { chunker: 'size-262144' }) })
    await measure(`import fastcdc, ${p} pieces, ${label}`, async () => { await importFile(input(source, piece), nullSink, { chunker: 'fastcdc' }) })
  }
}
// reading back: cat of the whole file from blocks held in memory (no verification: the source's job)
{
  const blocks = new Map<string, Uint8Array>()
  const store = {
    put: async (cid: CID, bytes: Uint8Array) => { blocks.set(cid.toString(), bytes) },
    get: async (cid: CID) => {
      const b = blocks.get(cid.toString())
      if (b == null) throw new Error(`missing ${cid}`)
      return b
    }
  }
  const { cid } = await importFile(input(cold, MIB), store)
  await measure('cat (export), 256 KiB raw leaves, from memory', async () => {
    let n = 0
    for await (const b of cat(cid, store)) n += b.length
    if (n !== total) throw new Error(`read ${n} bytes`)
  })
}
// the library alone (its own fixed-size chunker, its defaults), for comparison
await measure('ipfs-unixfs-importer defaults, 64 KiB pieces, cold', async () => {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  for await (const _ of importer([{ content: input(cold, 64 * 1024) }], { put: async (cid) => cid })) { /* drain */ }
})

const width = Math.max(...rows.map(r => r.name.length))
console.log(`\n${total / MIB} MiB, best of ${rounds}, Node ${process.version}, ${crypto.getHashes().includes('sha256') ? 'OpenSSL' : ''} sha2-256\n`)
console.log(`${'what'.padEnd(width)}  wall MB/s  cpu MB/s  of sha2 (hot)`)
const shaHot = rows[0].wall
for (const r of rows) {
  console.log(`${r.name.padEnd(width)}  ${r.wall.toFixed(0).padStart(9)}  ${r.cpu.toFixed(0).padStart(8)}  ${(r.wall / shaHot * 100).toFixed(0).padStart(12)}%`)
}
