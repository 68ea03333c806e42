/**
 * The shoal side: each node is a real `shoal daemon` process, driven only
 * through its RPC port (JSON-RPC `POST /rpc`, `POST /api/v1/add`,
 * `GET /api/v1/cat/CID`) with the address and token it writes to its repo.
 * Whether the daemon can add and cat yet is found out at run time: a daemon
 * that answers 404 on the add route is reported as "not available yet".
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { daemonV8Flags } from '../../scripts/daemon-flags.ts'
import { GcLineCounter } from './gc.ts'
import type { GcCounts } from './gc.ts'
import { pollFor, withTimeout } from './proc.ts'
import { pickLoopback, STALL_MS } from './peers.ts'
import type { AddResult, CatResult, PeerSystem, StoragePeer } from './peers.ts'
import type { Availability, BenchContext } from './runner.ts'
import type { ReplicationReport } from '../../src/replication/push.ts'

/** The built single binary when SHOAL_BIN is set (as in the e2e tests), else the sources under this Node. */
export function shoalCommand (root: string, v8Flags: string[] = []): string[] {
  const bin = process.env.SHOAL_BIN
  // the binary's V8 flags are baked in (NODE_OPTIONS may not carry --trace-gc): no extra flags there
  if (bin != null && bin !== '') return [path.resolve(bin)]
  // the V8 flags that bin/shoal.ts, npm start and the binary run the daemon with
  return [process.execPath, '--no-warnings', ...daemonV8Flags(root), ...v8Flags, path.join(root, 'bin/shoal.ts')]
}

/**
 * Kubo's CID v1 settings; one copy, confirmed by this node alone: the add is
 * local (the node is alone when it adds), as Helia's is.
 */
export const ADD_PATH = '/api/v1/add?cid-version=1&chunker=size-262144&replicas=1&quorum=1'

interface HttpAnswer { status: number, text: string }

export class ShoalDaemon implements StoragePeer {
  readonly name: string
  readonly pid: number
  readonly peerId: string
  readonly address: string
  readonly addresses: string[]
  readonly rpc: string
  private readonly token: string
  private readonly child: ReturnType<typeof spawn>
  private readonly output: () => string
  private readonly gc?: GcLineCounter
  private nextId = 1

  private constructor (init: { name: string, child: ReturnType<typeof spawn>, output: () => string, gc?: GcLineCounter, rpc: string, token: string, peerId: string, addresses: string[] }) {
    this.name = init.name
    this.gc = init.gc
    this.child = init.child
    this.pid = init.child.pid as number
    this.output = init.output
    this.rpc = init.rpc
    this.token = init.token
    this.peerId = init.peerId
    this.addresses = init.addresses
    this.address = pickLoopback(init.addresses, init.peerId)
  }

  /** Start `shoal daemon` on a fresh repo; resolves once its RPC port answers `node.id`. */
  static async start (ctx: Pick<BenchContext, 'root' | 'scope' | 'newDir'>, name: string, bootstrap?: string, timeoutMs = 30_000, config?: Record<string, unknown>): Promise<ShoalDaemon> {
    const repo = await ctx.newDir(`shoal-${name}`)
    // settings of this run beyond the command line (the rest: the embedded defaults)
    if (config != null) await fsp.writeFile(path.join(repo, 'config.json'), JSON.stringify(config))
    const args = ['daemon', '--repo', repo, '--listen', '/ip4/127.0.0.1/tcp/0', '--rpc', '127.0.0.1:0', '--no-mdns', '--log-level', 'warn']
    if (bootstrap != null) args.push('--bootstrap', bootstrap)
    // --trace-gc: every collection is a line on stdout, counted (gcCounts) and kept out of the log;
    // the daemon is found ready through api.json, never through its output
    const traceGc = process.env.SHOAL_BIN == null || process.env.SHOAL_BIN === ''
    // SHOAL_BENCH_NODE_FLAGS: more flags for the daemons, to look inside (e.g. --cpu-prof --cpu-prof-dir=DIR)
    const extra = (process.env.SHOAL_BENCH_NODE_FLAGS ?? '').split(' ').filter(f => f !== '')
    const [command, ...pre] = shoalCommand(ctx.root, traceGc ? ['--trace-gc', ...extra] : [])
    const child = spawn(command, [...pre, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SHOAL_HOME: repo },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    ctx.scope.track(child)
    let log = ''
    const gc = traceGc ? new GcLineCounter() : undefined
    child.stdout?.setEncoding('utf8')
    child.stderr?.setEncoding('utf8')
    child.stdout?.on('data', (c: string) => { log = (log + (gc?.feed(c) ?? c)).slice(-8192) })
    child.stderr?.on('data', (c: string) => { log = (log + c).slice(-8192) })
    const output = (): string => {
      const all = (log + (gc?.unfinished ?? '')).trim()
      return all === '' ? '' : `\n--- shoal ${name} output ---\n${all.slice(-2000)}`
    }

    const api = await pollFor(async () => {
      if (child.exitCode != null || child.signalCode != null) throw new Error(`shoal daemon ${name} exited (${child.exitCode ?? child.signalCode})${output()}`)
      try {
        const parsed = JSON.parse(await fsp.readFile(path.join(repo, 'api.json'), 'utf8')) as { rpc?: string, pid?: number }
        const token = (await fsp.readFile(path.join(repo, 'rpc.token'), 'utf8')).trim()
        if (parsed.pid === child.pid && typeof parsed.rpc === 'string' && token !== '') return { rpc: parsed.rpc, token }
      } catch {}
      return undefined
    }, `shoal daemon ${name} to write api.json`, timeoutMs)

    const info = await jsonRpc<{ peerId: string, addresses: string[] }>(api.rpc, api.token, 'node.id', 1)
    return new ShoalDaemon({ name, child, output, gc, rpc: api.rpc, token: api.token, peerId: info.peerId, addresses: info.addresses })
  }

  /**
   * The daemon's garbage collections so far (undefined when not traced: the
   * single binary). V8 flushes each line at once, but it still crosses a pipe:
   * read through `gcMeter` (gc.ts), which lets the last lines arrive.
   */
  gcCounts (): GcCounts | undefined {
    return this.gc?.snapshot()
  }

  async call<T> (method: string, timeoutMs = 10_000, params?: Record<string, unknown>): Promise<T> {
    return await jsonRpc<T>(this.rpc, this.token, method, this.nextId++, timeoutMs, params)
  }

  /** Kill the process at once, as a crash would (SIGKILL). */
  async kill (): Promise<void> {
    if (this.child.exitCode != null || this.child.signalCode != null) return
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    this.child.kill('SIGKILL')
    await exited
  }

  /** Wait until `peerId` is among this daemon's connected peers. */
  async waitForPeer (peerId: string, timeoutMs = 30_000): Promise<void> {
    await pollFor(async () => {
      const peers = await this.call<Array<{ peerId: string }>>('peer.list')
      return peers.some(p => p.peerId === peerId) ? true : undefined
    }, `shoal ${this.name} to connect to ${peerId}`, timeoutMs, 100)
  }

  /** Can this daemon add and cat? Adds an empty file and reads it back. */
  async probe (): Promise<Availability> {
    const added = await this.http('POST', ADD_PATH, Buffer.alloc(0), 10_000).catch((err: Error) => {
      throw new Error(`POST ${ADD_PATH} of an empty file: ${err.name === 'AbortError' || err.name === 'TimeoutError' ? 'no answer within 10 s' : err.message}`)
    })
    if (added.status === 404 || added.status === 405) {
      return { available: false, reason: `the daemon answers ${added.status} on POST /api/v1/add (${added.text.trim().slice(0, 80)})` }
    }
    if (added.status >= 300) return { available: false, reason: `POST /api/v1/add of an empty file answered ${added.status}: ${added.text.trim().slice(0, 200)}` }
    const cid = parseAddAnswer(added.text).cid
    const cat = await this.http('GET', `/api/v1/cat/${cid}`, undefined, 10_000).catch((err: Error) => {
      throw new Error(`GET /api/v1/cat/${cid}: ${err.name === 'AbortError' || err.name === 'TimeoutError' ? 'no answer within 10 s' : err.message}`)
    })
    if (cat.status !== 200) return { available: false, reason: `GET /api/v1/cat/${cid} answered ${cat.status}: ${cat.text.trim().slice(0, 200)}` }
    return { available: true }
  }

  /** Add `file` through `addPath` (default: one local copy); the answer's replication report comes back too. */
  async add (file: string, size: number, timeoutMs: number, addPath = ADD_PATH): Promise<AddResult & { replication?: ReplicationReport }> {
    const begin = performance.now()
    const answer = await new Promise<HttpAnswer>((resolve, reject) => {
      const req = this.request('POST', addPath, timeoutMs, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) }, res => {
        collect(res).then(text => { resolve({ status: res.statusCode ?? 0, text }) }, reject)
      })
      req.on('error', reject)
      const body = fs.createReadStream(file, { highWaterMark: 1024 * 1024 })
      body.on('error', err => { req.destroy(err) })
      body.pipe(req)
    })
    const seconds = (performance.now() - begin) / 1000
    if (answer.status >= 300) throw new Error(`shoal ${this.name}: add answered ${answer.status}: ${answer.text.slice(0, 500)}${this.output()}`)
    const parsed = parseAddAnswer(answer.text)
    // `size` may be the file's or (as Kubo's) the whole DAG's, never less than the file
    if (parsed.size != null && parsed.size < size) throw new Error(`shoal ${this.name}: add reports ${parsed.size} bytes for a ${size}-byte file`)
    return { cid: parsed.cid, seconds, replication: parsed.replication }
  }

  async cat (cid: string, timeoutMs: number): Promise<CatResult> {
    const begin = performance.now()
    return await new Promise<CatResult>((resolve, reject) => {
      const req = this.request('GET', `/api/v1/cat/${cid}`, timeoutMs, {}, res => {
        if (res.statusCode !== 200) {
          collect(res).then(text => { reject(new Error(`shoal ${this.name}: cat answered ${res.statusCode}: ${text.slice(0, 500)}${this.output()}`)) }, reject)
          return
        }
        let bytes = 0
        let ttfbMs = NaN
        let stall: NodeJS.Timeout | undefined
        const arm = (): void => {
          clearTimeout(stall)
          stall = setTimeout(() => { req.destroy(new Error(`shoal ${this.name}: cat stalled: no data for ${STALL_MS / 1000} s after ${bytes} bytes${this.output()}`)) }, STALL_MS)
        }
        arm()
        res.on('data', (c: Buffer) => {
          if (bytes === 0) ttfbMs = performance.now() - begin
          bytes += c.byteLength
          arm()
        })
        res.on('close', () => { clearTimeout(stall) })
        res.on('end', () => { resolve({ bytes, ttfbMs, seconds: (performance.now() - begin) / 1000 }) })
        res.on('error', reject)
        res.on('aborted', () => { reject(new Error(`shoal ${this.name}: cat aborted after ${bytes} bytes${this.output()}`)) })
      })
      req.on('error', reject)
      req.end()
    })
  }

  async stop (): Promise<void> {
    if (this.child.exitCode != null || this.child.signalCode != null) return
    const exited = new Promise<void>(resolve => this.child.once('exit', () => { resolve() }))
    process.kill(this.pid, 'SIGTERM')
    await withTimeout(exited, 8000, `shoal ${this.name} to stop`).catch(async () => {
      try { this.child.kill('SIGKILL') } catch {}
      await withTimeout(exited, 2000, `shoal ${this.name} to die`).catch(() => {})
    })
  }

  private request (method: string, pathAndQuery: string, timeoutMs: number, headers: Record<string, string>, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    const [host, port] = splitHostPort(this.rpc)
    return http.request({
      host,
      port,
      method,
      path: pathAndQuery,
      headers: { ...headers, Authorization: `Bearer ${this.token}` },
      signal: AbortSignal.timeout(timeoutMs)
    }, onResponse)
  }

  private async http (method: string, pathAndQuery: string, body: Buffer | undefined, timeoutMs: number): Promise<HttpAnswer> {
    return await new Promise<HttpAnswer>((resolve, reject) => {
      const headers: Record<string, string> = body == null ? {} : { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.byteLength) }
      const req = this.request(method, pathAndQuery, timeoutMs, headers, res => {
        collect(res).then(text => { resolve({ status: res.statusCode ?? 0, text }) }, reject)
      })
      req.on('error', reject)
      req.end(body)
    })
  }
}

function splitHostPort (address: string): [string, number] {
  const i = address.lastIndexOf(':')
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))]
}

async function collect (res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function jsonRpc<T> (address: string, token: string, method: string, id: number, timeoutMs = 10_000, params?: Record<string, unknown>): Promise<T> {
  const body = JSON.stringify({ jsonrpc: '2.0', id, method, ...(params == null ? {} : { params }) })
  const [host, port] = splitHostPort(address)
  const text = await new Promise<string>((resolve, reject) => {
    const req = http.request({
      host,
      port,
      method: 'POST',
      path: '/rpc',
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs)
    }, res => {
      collect(res).then(t => {
        if (res.statusCode !== 200) reject(new Error(`${method}: HTTP ${res.statusCode} ${t.slice(0, 200)}`))
        else resolve(t)
      }, reject)
    })
    req.on('error', reject)
    req.end(body)
  })
  const reply = JSON.parse(text) as { result?: T, error?: { message: string } }
  if (reply.error != null) throw new Error(`${method}: ${reply.error.message}`)
  return reply.result as T
}

/** The add answer: one JSON object, or (if the daemon streams progress) JSON lines ending with it. */
export function parseAddAnswer (text: string): { cid: string, size?: number, replication?: ReplicationReport } {
  const candidates = [text, ...text.trim().split('\n').reverse()]
  for (const candidate of candidates) {
    try {
      const parsed = JSON.parse(candidate) as { cid?: unknown, size?: unknown, replication?: ReplicationReport }
      const cid = typeof parsed.cid === 'string' ? parsed.cid : (parsed.cid as { '/': string } | undefined)?.['/']
      if (typeof cid === 'string') return { cid, size: typeof parsed.size === 'number' ? parsed.size : undefined, replication: parsed.replication }
    } catch {}
  }
  throw new Error(`the add answer has no cid: ${text.slice(0, 300)}`)
}

let probed: Promise<Availability> | undefined

export const shoal: PeerSystem = {
  system: 'shoal',
  label: 'shoal',
  notes: 'One `shoal daemon` process per node (`node bin/shoal.ts daemon`, or `$SHOAL_BIN daemon` when SHOAL_BIN names the built binary; its own repo, `--no-mdns`, 127.0.0.1), driven over its RPC port by the benchmark process: the file is streamed from disk to `POST /api/v1/add?cid-version=1&chunker=size-262144&replicas=1&quorum=1` (Kubo\'s CID v1 settings; one copy, confirmed locally: the adder is alone when it adds, like Helia\'s), and `GET /api/v1/cat/CID` is read to its end. Times are taken in the benchmark process, so they include the local HTTP hop. Every node but the adder joins with `--bootstrap` after the add and waits until it is connected to the adder.',
  async availability (ctx) {
    probed ??= (async () => {
      const d = await ShoalDaemon.start(ctx, 'probe')
      try {
        return await d.probe()
      } finally {
        await d.stop()
      }
    })()
    return await probed
  },
  async start (ctx, name, join) {
    const d = await ShoalDaemon.start(ctx, name, join?.address)
    if (join != null) await d.waitForPeer(join.peerId)
    return d
  }
}

/** shoal with the flat store (one file per block), for the flat-vs-packed A/B */
export const shoalFlat: PeerSystem = {
  ...shoal,
  variant: 'flat',
  label: 'shoal, flat store',
  notes: 'As shoal, with `"blockstore": "flat"` in each daemon\'s config.json (one file per block, the layout before the packed store).',
  async start (ctx, name, join) {
    const d = await ShoalDaemon.start(ctx, name, join?.address, 30_000, { blockstore: 'flat' })
    if (join != null) await d.waitForPeer(join.peerId)
    return d
  }
}
