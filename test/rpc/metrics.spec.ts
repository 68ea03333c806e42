import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
// @ts-expect-error: the parser ships no types
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { startTestDaemon } from '../helpers/daemon.ts'
import type { TestDaemon } from '../helpers/daemon.ts'

interface Family { name: string, type: string, help: string, metrics: Array<{ value?: string, labels?: Record<string, string>, buckets?: Record<string, string>, count?: string }> }

/** One sample's value: the family's first metric whose labels include `labels`. */
function sample (families: Family[], name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find(f => f.name === name)
  const m = family?.metrics.find(m => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
  if (m == null) return undefined
  return Number(m.value ?? m.count)
}

describe('rpc: GET /metrics', function () {
  this.timeout(30_000)
  let d: TestDaemon

  before(async () => { d = await startTestDaemon() })
  after(async () => { await d?.stop() })

  it('needs the token like everything else on the port', async () => {
    assert.equal((await d.request('/metrics', { token: null })).status, 401)
  })

  it("parses as Prometheus text and says what the node stores, its health, its requests and libp2p's traffic", async () => {
    const added = await d.request('/api/v1/add', { method: 'POST', body: crypto.randomBytes(600 * 1024) })
    assert.equal(added.status, 200)
    await d.rpc('node.id')
    await d.rpc('node.id')
    await assert.rejects(d.rpc('content.stat', { cid: 'not-a-cid' }))
    const repo = await d.rpc('repo.stat')

    const reply = await d.request('/metrics')
    assert.equal(reply.status, 200)
    assert.match(String(reply.headers['content-type']), /^text\/plain; version=0\.0\.4/)
    const families = parsePrometheusTextFormat(reply.body.toString()) as Family[]
    assert.ok(families.length > 20, `${families.length} families`)

    assert.equal(sample(families, 'shoal_blocks'), repo.blocks)
    assert.equal(sample(families, 'shoal_stored_bytes'), repo.bytes)
    assert.equal(sample(families, 'shoal_pins'), 1)
    assert.equal(sample(families, 'shoal_health_status', { status: 'ok' }), 1)
    assert.equal(sample(families, 'shoal_health_status', { status: 'degraded' }), 0)
    assert.equal(sample(families, 'shoal_replicas'), 1)
    // alone with k = 1: every stored block's range has its one live copy, none under-replicated
    assert.equal(sample(families, 'shoal_blocks_by_live_copies', { copies: '1' }), repo.blocks)
    assert.equal(sample(families, 'shoal_under_replicated_blocks'), 0)
    assert.equal(families.find(f => f.name === 'shoal_repair_passes_total')?.type, 'COUNTER')

    const requests = families.find(f => f.name === 'shoal_rpc_request_duration_seconds')
    assert.equal(requests?.type, 'HISTOGRAM')
    // (the parser folds a labelled histogram into one sample: its counts are read from the text)
    const count = (method: string, outcome: string): number | undefined => {
      const line = reply.body.toString().split('\n').find(l => l.startsWith(`shoal_rpc_request_duration_seconds_count{method="${method}",outcome="${outcome}"}`))
      return line == null ? undefined : Number(line.split(' ').at(-1))
    }
    assert.equal(count('node.id', 'ok'), 2)
    assert.equal(count('content.stat', 'error'), 1)
    assert.equal(count('POST /api/v1/add', 'ok'), 1)

    // the runtime's
    assert.ok(families.some(f => f.name === 'process_cpu_seconds_total'))
  })

  it('the sample Grafana dashboard asks only for metrics the node has', async () => {
    const dashboard = await fs.readFile(path.resolve(import.meta.dirname, '../../docs/grafana-dashboard.json'), 'utf8')
    const used = new Set([...dashboard.matchAll(/\b(shoal_[a-z0-9_]+)/g)].map(m => m[1].replace(/_bucket$/, '')))
    assert.ok(used.size >= 8)
    const names = new Set((parsePrometheusTextFormat((await d.request('/metrics')).body.toString()) as Family[]).map(f => f.name))
    for (const name of used) assert.ok(names.has(name), `the dashboard's ${name} is not in /metrics`)
  })

  it('counts a GC run', async () => {
    const before = parsePrometheusTextFormat((await d.request('/metrics')).body.toString()) as Family[]
    await d.rpc('repo.gc')
    const after = parsePrometheusTextFormat((await d.request('/metrics')).body.toString()) as Family[]
    assert.equal(sample(after, 'shoal_gc_runs_total'), (sample(before, 'shoal_gc_runs_total') ?? 0) + 1)
  })
})
