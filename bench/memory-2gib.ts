/**
 * Memory stays flat: one shoal daemon process adds a 2 GiB file and serves
 * it back, and its peak RSS must stay under 300 MB.
 *
 *   node bench/memory-2gib.ts [--size BYTES|NGiB|NMiB] [--dir DIR] [--limit-mb 300]
 *   SHOAL_BIN=dist/shoal node bench/memory-2gib.ts     (the single executable)
 *   (the daemon runs with the V8 flag it ships with, --max-semi-space-size=2)
 *
 * The file is never materialised, in memory or on disk: it is an AES-256-CTR
 * keystream generated as it is uploaded (POST /api/v1/add, chunked) and
 * hashed on the way; the cat (GET /api/v1/cat/CID) is hashed as it streams
 * and must give the same SHA-256. While both run, the daemon's VmRSS is
 * sampled from /proc/PID/status every 50 ms; VmHWM (the kernel's own peak)
 * is read at the end. The daemon's repo (the 2 GiB of blocks) goes to a temp
 * directory under --dir (default: the OS temp dir), checked for room first
 * and removed at the end.
 *
 * Exit code: 0 when the peak RSS is under the limit and the bytes came back
 * intact, 1 otherwise, 2 for bad arguments or too little disk.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { shoalCommand } from './lib/shoal-peer.ts'

const MIB = 1024 * 1024
const GIB = 1024 * MIB
const ROOT = path.resolve(import.meta.dirname, '..')

function parseSize (text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(GiB|MiB|KiB|B)?$/i.exec(text.trim())
  if (m == null) throw new Error(`Invalid --size "${text}": say e.g. 2GiB, 512MiB or a number of bytes`)
  const unit = (m[2] ?? 'B').toLowerCase()
  const factor = unit === 'gib' ? GIB : unit === 'mib' ? MIB : unit === 'kib' ? 1024 : 1
  return Math.round(Number(m[1]) * factor)
}

/** `size` pseudo-random bytes, 1 MiB at a time: nothing but one chunk is ever held. */
async function * keystream (seed: string, size: number): AsyncGenerator<Buffer> {
  const cipher = crypto.createCipheriv('aes-256-ctr', crypto.createHash('sha256').update(seed).digest(), Buffer.alloc(16))
  const zeros = Buffer.alloc(MIB)
  for (let left = size; left > 0; left -= MIB) yield cipher.update(zeros.subarray(0, Math.min(MIB, left)))
}

interface Memory { rss: number, hwm: number }

function readMemory (pid: number): Memory | undefined {
  let status: string
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined // the process is gone
  }
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') }
}



async function startDaemon (repo: string): Promise<{ child: ChildProcess, rpc: string, token: string }> {
  const [cmd, ...pre] = shoalCommand(ROOT)
  const child = spawn(cmd, [...pre, 'daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--rpc', '127.0.0.1:0', '--no-mdns', '--json', '--log-level', 'warn'], {
    // NODE_OPTIONS passes through, to try V8 settings (e.g. --max-semi-space-size=2) without a rebuild
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DENO_NO_UPDATE_CHECK: '1', ...(process.env.NODE_OPTIONS == null ? {} : { NODE_OPTIONS: process.env.NODE_OPTIONS }) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { err += c.toString(); process.stderr.write(`[daemon] ${c.toString()}`) })
  const deadline = Date.now() + 60_000
  while (true) {
    if (child.exitCode != null) throw new Error(`the daemon exited with ${child.exitCode}: ${err}`)
    try {
      const ready = JSON.parse(out) as { rpc: string }
      const token = (await fsp.readFile(path.join(repo, 'rpc.token'), 'utf8')).trim()
      return { child, rpc: ready.rpc, token }
    } catch {}
    if (Date.now() > deadline) throw new Error(`the daemon was not ready within 60 s: ${err}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

async function add (rpc: string, token: string, size: number): Promise<{ cid: string, sha256: string, seconds: number }> {
  const [host, port] = [rpc.slice(0, rpc.lastIndexOf(':')), Number(rpc.slice(rpc.lastIndexOf(':') + 1))]
  const hash = crypto.createHash('sha256')
  const started = performance.now()
  const answer = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host, port, method: 'POST', path: '/api/v1/add', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream' } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        if (res.statusCode !== 200) reject(new Error(`add answered ${res.statusCode}: ${text}`))
        else resolve(text)
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    void (async () => {
      for await (const chunk of keystream('shoal-memory-bench', size)) {
        hash.update(chunk)
        if (!req.write(chunk)) await new Promise(resolve => req.once('drain', resolve))
      }
      req.end()
    })().catch(err => { req.destroy(err as Error) })
  })
  const seconds = (performance.now() - started) / 1000
  return { cid: (JSON.parse(answer) as { cid: string }).cid, sha256: hash.digest('hex'), seconds }
}

async function cat (rpc: string, token: string, cid: string): Promise<{ bytes: number, sha256: string, seconds: number }> {
  const [host, port] = [rpc.slice(0, rpc.lastIndexOf(':')), Number(rpc.slice(rpc.lastIndexOf(':') + 1))]
  const hash = crypto.createHash('sha256')
  const started = performance.now()
  let bytes = 0
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ host, port, method: 'GET', path: `/api/v1/cat/${cid}`, headers: { Authorization: `Bearer ${token}` } }, res => {
      if (res.statusCode !== 200) {
        reject(new Error(`cat answered ${res.statusCode}`))
        res.resume()
        return
      }
      res.on('data', (c: Buffer) => { bytes += c.length; hash.update(c) })
      res.on('end', resolve)
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
  return { bytes, sha256: hash.digest('hex'), seconds: (performance.now() - started) / 1000 }
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '2GiB' },
      dir: { type: 'string', default: os.tmpdir() },
      'limit-mb': { type: 'string', default: '300' }
    }
  })
  const size = parseSize(values.size)
  const limit = Number(values['limit-mb']) * 1e6
  if (process.platform !== 'linux') {
    console.error('This benchmark reads /proc: it runs on Linux only')
    return 2
  }
  const fsStat = await fsp.statfs(values.dir)
  const free = Number(fsStat.bavail) * Number(fsStat.bsize)
  const needed = size * 1.1 + 512 * MIB
  if (free < needed) {
    console.error(`Not enough disk under ${values.dir}: ${(free / GIB).toFixed(1)} GiB free, ${(needed / GIB).toFixed(1)} GiB needed`)
    return 2
  }

  const repo = await fsp.mkdtemp(path.join(values.dir, 'shoal-memory-'))
  let daemon: ChildProcess | undefined
  try {
    const started = await startDaemon(repo)
    daemon = started.child
    const pid = daemon.pid as number
    const atStart = readMemory(pid)
    let maxRss = atStart?.rss ?? 0
    const sampler = setInterval(() => { maxRss = Math.max(maxRss, readMemory(pid)?.rss ?? 0) }, 50)
    let added, got
    try {
      console.log(`shoal ${shoalCommand(ROOT).join(' ')}${process.env.NODE_OPTIONS == null ? '' : ` (NODE_OPTIONS=${process.env.NODE_OPTIONS})`}: daemon pid ${pid}, repo ${repo}, RSS at start ${((atStart?.rss ?? 0) / 1e6).toFixed(1)} MB`)
      added = await add(started.rpc, started.token, size)
      console.log(`added ${(size / MIB).toFixed(0)} MiB in ${added.seconds.toFixed(1)} s (${(size / MIB / added.seconds).toFixed(1)} MiB/s): ${added.cid}`)
      got = await cat(started.rpc, started.token, added.cid)
      console.log(`cat ${(got.bytes / MIB).toFixed(0)} MiB in ${got.seconds.toFixed(1)} s (${(got.bytes / MIB / got.seconds).toFixed(1)} MiB/s)`)
    } finally {
      clearInterval(sampler)
    }
    const end = readMemory(pid)
    const peak = Math.max(end?.hwm ?? 0, maxRss)
    const intact = got.bytes === size && got.sha256 === added.sha256
    console.log(`peak RSS ${(peak / 1e6).toFixed(1)} MB (VmHWM ${((end?.hwm ?? 0) / 1e6).toFixed(1)} MB, highest sampled VmRSS ${(maxRss / 1e6).toFixed(1)} MB, VmRSS now ${((end?.rss ?? 0) / 1e6).toFixed(1)} MB); limit ${(limit / 1e6).toFixed(0)} MB`)
    console.log(`sha256 in ${added.sha256}, out ${got.sha256}: ${intact ? 'intact' : 'DIFFERENT'}`)
    if (!intact) {
      console.error('FAIL: the bytes that came back differ from what was added')
      return 1
    }
    if (peak >= limit) {
      console.error(`FAIL: peak RSS ${(peak / 1e6).toFixed(1)} MB is not under ${(limit / 1e6).toFixed(0)} MB`)
      return 1
    }
    console.log('PASS')
    return 0
  } finally {
    if (daemon != null && daemon.exitCode == null) {
      const exited = new Promise(resolve => daemon?.once('exit', resolve))
      process.kill(daemon.pid as number, 'SIGTERM')
      const timer = setTimeout(() => daemon?.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    }
    await fsp.rm(repo, { recursive: true, force: true })
  }
}

main().then(code => { process.exitCode = code }, err => {
  console.error(err)
  process.exitCode = 1
})
