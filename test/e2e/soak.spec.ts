/**
 * Operators' soak: four daemon processes left idle longer than every idle
 * timeout, then used again; and clients that walk away mid-request. Every
 * call must succeed, every daemon must still run at the end, and none may
 * have logged an error that escaped its handlers.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { ESCAPED_ERROR_MESSAGE } from '../../src/platform/guard.ts'
import { runShoal, shoalCommand, startDaemonProcess } from '../helpers/processes.ts'
import type { ShoalProcess, StartedDaemon } from '../helpers/processes.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const MiB = 1024 * 1024
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

interface Cluster {
  dir: string
  nodes: StartedDaemon[]
  stop(): Promise<void>
}

/**
 * Four daemons on 127.0.0.1 that know the first; `configs[i]` is written to
 * node i's config.json before it starts (the rest are the defaults).
 */
async function startCluster (prefix: string, configs: Array<Record<string, unknown>>): Promise<Cluster> {
  const { dir, cleanup } = await tempDir(prefix)
  const procs: ShoalProcess[] = []
  const stop = async (): Promise<void> => {
    for (const p of procs) p.child.kill('SIGKILL')
    await Promise.all(procs.map(async p => await p.exited))
    await cleanup()
  }
  try {
    const nodes: StartedDaemon[] = []
    for (const [i, config] of configs.entries()) {
      const repo = path.join(dir, `node-${i}`)
      await fs.mkdir(repo, { recursive: true })
      await fs.writeFile(path.join(repo, 'config.json'), JSON.stringify(config))
      const started = await startDaemonProcess(repo, { bootstrap: nodes[0]?.ready.addresses[0], logLevel: 'warn' })
      procs.push(started.proc)
      nodes.push(started)
    }
    for (const node of nodes) {
      await waitFor(async () => {
        const r = await runShoal(['health', '--json', '--repo', node.repo])
        return JSON.parse(r.stdout || '{}').storagePeers === nodes.length - 1
      }, 'every daemon to see the other three as storage peers', 30_000, 200)
    }
    return { dir, nodes, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Fails unless every daemon still runs and none logged an escaped error or a failed replication. */
function assertHealthy (cluster: Cluster): void {
  for (const [i, node] of cluster.nodes.entries()) {
    assert.equal(node.proc.child.exitCode, null, `daemon ${i} exited: ${node.proc.stderr()}`)
    assert.equal(node.proc.child.signalCode, null, `daemon ${i} was killed: ${node.proc.stderr()}`)
    const log = node.proc.stderr()
    assert.ok(!log.includes(ESCAPED_ERROR_MESSAGE), `daemon ${i} logged an escaped error:\n${log}`)
    assert.doesNotMatch(log, /could not replicate|could not send a name write|Cannot write to a stream/, `daemon ${i}:\n${log}`)
  }
}

async function shoal (args: string[], node: StartedDaemon): Promise<string> {
  const r = await runShoal([...args, '--repo', node.repo], 60_000)
  assert.equal(r.code, 0, `shoal ${args.join(' ')} on ${path.basename(node.repo)} failed: ${r.stderr}`)
  return r.stdout
}

/**
 * One round on nodes that sat idle: on each node at once, add a file, cat it
 * from the next node, stat it on the one after, write a name and read it
 * back on another node.
 */
async function useEveryNode (cluster: Cluster, round: number): Promise<void> {
  const { nodes, dir } = cluster
  await Promise.all(nodes.map(async (node, i) => {
    const next = (n: number): StartedDaemon => nodes[(i + n) % nodes.length]
    const data = randomBytes(MiB + i * 100_000)
    const file = path.join(dir, `round-${round}-${i}.bin`)
    await fs.writeFile(file, data)
    const cid = (await shoal(['add', '-Q', file], node)).trim()
    const got = await runShoal(['cat', cid, '--repo', next(1).repo], 60_000, true)
    assert.equal(got.code, 0, got.stderr)
    assert.equal(sha256(got.bytes), sha256(data), `round ${round}: the bytes of ${cid} read on another node`)
    const stat = JSON.parse(await shoal(['stat', '--json', cid], next(2)))
    assert.equal(stat.replicas.blocks, stat.replicas.histogram.slice(2).reduce((a: number, b: number) => a + b, 0), `round ${round}: every block has at least 2 copies`)
    await shoal(['name', 'put', `/soak/${round}/${i}`, cid], next(3))
    const read = JSON.parse(await shoal(['name', 'get', '--json', `/soak/${round}/${i}`], next(1)))
    assert.equal(read.value.cid, cid)
  }))
}

/** The RPC address and token of a daemon, for raw HTTP. */
async function endpoint (node: StartedDaemon): Promise<{ port: number, token: string }> {
  const token = (await fs.readFile(path.join(node.repo, 'rpc.token'), 'utf8')).trim()
  return { port: Number(node.ready.rpc.split(':').at(-1)), token }
}

/**
 * A request that its client abandons: an add whose upload stops after
 * `cutAfter` bytes, or a read that is dropped at its first bytes (or at
 * once). Resolves when the connection is gone.
 */
async function abandon (port: number, token: string, kind: 'add' | 'cat' | 'rpc', target: string): Promise<void> {
  await new Promise<void>(resolve => {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}` }
    const method = kind === 'cat' ? 'GET' : 'POST'
    const url = kind === 'add' ? '/api/v1/add' : kind === 'cat' ? `/api/v1/cat/${target}` : '/rpc'
    const req = http.request({ host: '127.0.0.1', port, path: url, method, headers })
    req.on('error', () => { resolve() })
    req.on('close', () => { resolve() })
    req.on('response', res => {
      res.once('data', () => { req.destroy() })
      res.on('error', () => {})
      res.on('end', () => { resolve() })
    })
    if (kind === 'add') {
      // 2 MiB of a larger upload, then the client is gone
      void (async () => {
        for (let i = 0; i < 8; i++) {
          if (!req.write(randomBytes(256 * 1024))) await new Promise(r => req.once('drain', r))
        }
        await sleep(50)
        req.destroy()
      })()
    } else if (kind === 'rpc') {
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: target.startsWith('/') ? 'name.get' : 'content.stat', params: target.startsWith('/') ? { path: target } : { cid: target } }))
      setTimeout(() => { req.destroy() }, 5)
    } else {
      req.end()
    }
  })
}

describe(`e2e: soak, idle clusters and abandoned requests (${shoalCommand().join(' ')})`, function () {
  this.timeout(300_000)

  describe('idle timeouts of a second or less', () => {
    let cluster: Cluster | undefined
    after(async () => { await cluster?.stop() })

    // nodes 0 and 1 keep their streams longer than their peers do (the peer
    // closes them: stale sessions); nodes 2 and 3 close theirs first
    const configs = [
      { streamIdleTimeoutMs: 800, sessionIdleTimeoutMs: 60_000 },
      { streamIdleTimeoutMs: 1000, sessionIdleTimeoutMs: 60_000 },
      { streamIdleTimeoutMs: 1000, sessionIdleTimeoutMs: 400 },
      { streamIdleTimeoutMs: 800, sessionIdleTimeoutMs: 300 }
    ]

    it('adds, cats, stats and writes names on nodes left idle longer than every idle timeout, round after round', async () => {
      cluster = await startCluster('shoal-soak-', configs)
      await useEveryNode(cluster, 0)
      for (let round = 1; round <= 3; round++) {
        await sleep(2500)
        await useEveryNode(cluster, round)
        assertHealthy(cluster)
      }
    })

    it('50 requests abandoned mid-flight (adds, cats, RPC calls) on nodes with stale sessions leave every daemon serving', async () => {
      assert.ok(cluster != null, 'the cluster of the test before')
      const c = cluster
      // a file that each node but its adder reads over the network (and drops its cache of)
      const file = path.join(c.dir, 'abandoned.bin')
      await fs.writeFile(file, randomBytes(6 * MiB))
      const cid = (await shoal(['add', '-Q', file], c.nodes[0])).trim()
      await shoal(['name', 'put', '/soak/abandoned', cid], c.nodes[0])
      await sleep(2500)
      const endpoints = await Promise.all(c.nodes.map(endpoint))
      const requests: Array<Promise<void>> = []
      for (let i = 0; i < 50; i++) {
        const { port, token } = endpoints[i % endpoints.length]
        const kind = (['add', 'cat', 'cat', 'rpc', 'rpc'] as const)[i % 5]
        requests.push(abandon(port, token, kind, kind === 'rpc' && i % 2 === 0 ? '/soak/abandoned' : cid))
        if (i % 10 === 9) {
          await Promise.all(requests.splice(0))
          await sleep(200)
        }
      }
      await Promise.all(requests)
      await sleep(1000)
      assertHealthy(c)
      // and they all still serve, after one more idle period
      await sleep(2500)
      await useEveryNode(c, 9)
      for (const node of c.nodes) {
        const got = await runShoal(['cat', cid, '--repo', node.repo], 60_000, true)
        assert.equal(sha256(got.bytes), sha256(await fs.readFile(file)))
      }
      assertHealthy(c)
    })
  })

  describe('the real default timeouts (30 s on the server side, 20 s on the client side)', () => {
    let cluster: Cluster | undefined
    after(async () => { await cluster?.stop() })

    it('a cluster left idle for 35 s serves adds, cats, stats and names at once', async function () {
      this.timeout(600_000)
      cluster = await startCluster('shoal-soak-defaults-', [{}, {}, {}, {}])
      await useEveryNode(cluster, 0)
      await sleep(35_000)
      await useEveryNode(cluster, 1)
      assertHealthy(cluster)
    })
  })
})
