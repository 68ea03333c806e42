/**
 * An in-process daemon on a temp repo (p2p and RPC on 127.0.0.1, port 0, no
 * mDNS, no peers) and plain HTTP helpers for its RPC port.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import http from 'node:http'
import { startDaemon } from '../../src/daemon/daemon.ts'
import type { Daemon } from '../../src/daemon/daemon.ts'
import type { ShoalConfig } from '../../src/config.ts'
import type { Logger } from '../../src/platform/logger.ts'
import { tempDir } from './tmp.ts'

export interface HttpReply {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
  /** the body parsed as JSON (undefined when it is not JSON) */
  json: any
}

export interface RequestInit {
  method?: string
  headers?: Record<string, string>
  body?: Uint8Array | AsyncIterable<Uint8Array>
  /** send this token instead of the daemon's; null sends no Authorization header */
  token?: string | null
}

export interface TestDaemon {
  daemon: Daemon
  repo: string
  token: string
  port: number
  request(path: string, init?: RequestInit): Promise<HttpReply>
  /** a JSON-RPC call: the result, or throws an Error carrying the error object's message and data */
  rpc<T = any>(method: string, params?: unknown): Promise<T>
  stop(): Promise<void>
}

/** A logger that keeps every line (tests look for what the daemon said). */
export function memoryLogger (lines: string[] = [], component = ''): Logger & { lines: string[] } {
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${component} ${message} ${fields == null ? '' : JSON.stringify(fields)}`)
  }
  return {
    lines,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (c: string) => memoryLogger(lines, component === '' ? c : `${component}.${c}`)
  }
}

/**
 * A daemon alone on 127.0.0.1. It keeps one copy of everything (replicas 1)
 * unless `config` says otherwise: with the default k = 3 every write of a
 * lone node would fail its quorum.
 */
export async function startTestDaemon (options: { repo?: string, logger?: Logger, config?: Partial<ShoalConfig> } = {}): Promise<TestDaemon> {
  let cleanup = async (): Promise<void> => {}
  let repo = options.repo
  if (repo == null) {
    const t = await tempDir('shoal-daemon-')
    repo = t.dir
    cleanup = t.cleanup
  }
  const daemon = await startDaemon({
    repoDir: repo,
    overrides: { listen: ['/ip4/127.0.0.1/tcp/0'], rpc: '127.0.0.1:0', mdns: false, bootstrap: [], replicas: 1, ...options.config },
    logger: options.logger
  }).catch(async (err) => { await cleanup(); throw err })
  const token = (await fs.readFile(daemon.paths.rpcToken, 'utf8')).trim()
  const port = Number(daemon.rpcAddress.split(':').at(-1))
  let nextId = 1
  const request = async (path: string, init: RequestInit = {}): Promise<HttpReply> => await httpRequest(port, path, { ...init, token: init.token === undefined ? token : init.token })
  return {
    daemon,
    repo,
    token,
    port,
    request,
    rpc: async (method, params) => {
      const reply = await request('/rpc', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, ...(params === undefined ? {} : { params }) }))
      })
      if (reply.status !== 200) throw new Error(`RPC ${method}: HTTP ${reply.status} ${reply.body.toString()}`)
      if (reply.json.error != null) {
        throw Object.assign(new Error(reply.json.error.message), { rpcCode: reply.json.error.code, data: reply.json.error.data })
      }
      return reply.json.result
    },
    stop: async () => {
      try {
        await daemon.stop()
      } finally {
        await cleanup()
      }
    }
  }
}

export async function httpRequest (port: number, path: string, init: RequestInit = {}): Promise<HttpReply> {
  const headers: Record<string, string> = { ...init.headers }
  if (init.token != null) headers.Authorization = `Bearer ${init.token}`
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        let json: any
        try { json = JSON.parse(body.toString('utf8')) } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json })
      })
    })
    req.on('error', reject)
    const body = init.body
    if (body == null) req.end()
    else if (body instanceof Uint8Array) req.end(body)
    else {
      void (async () => {
        try {
          for await (const chunk of body) {
            if (!req.write(chunk)) await new Promise(resolve => req.once('drain', resolve))
          }
          req.end()
        } catch (err) {
          req.destroy(err as Error)
        }
      })()
    }
  })
}

/** Names of the files in a directory (none when it does not exist). */
export async function filesIn (dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** A byte route's error answer: the status, JSON with the code, a one-line message (matching `message` when given). */
export function assertJsonError (reply: HttpReply, status: number, code: string, message?: RegExp): void {
  assert.equal(reply.status, status, reply.body.toString())
  assert.match(String(reply.headers['content-type']), /^application\/json/)
  assert.equal(reply.json?.error?.code, code, reply.body.toString())
  assert.equal(typeof reply.json.error.message, 'string')
  assert.ok(reply.json.error.message.length > 0)
  assert.doesNotMatch(reply.json.error.message, /\n/)
  if (message != null) assert.match(reply.json.error.message, message)
}
