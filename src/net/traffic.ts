/**
 * libp2p's metrics hook, kept to what shoal reports: bytes in and out per
 * protocol (and for whole connections), counted into one prom-client
 * counter of this node's registry. Every other metric libp2p registers is
 * accepted and dropped. (@libp2p/prometheus-metrics keeps its metrics in
 * module-global state: several nodes in one process, as the tests run them,
 * would share or collide.)
 */
import type { Metrics, MultiaddrConnection, Stream } from '@libp2p/interface'
import { Counter } from 'prom-client'
import type { Registry } from 'prom-client'

interface Tracked {
  protocol?: string
  dispatchEvent: (event: Event) => boolean
  send: (data: any) => boolean
}

/** A do-nothing metric of any shape libp2p asks for (Metric, Counter, Histogram, their groups). */
const NOTHING: any = new Proxy(() => {}, {
  get: (_target, key) => key === 'timer' ? () => () => {} : () => {}
})

export function trafficMetrics (registry: Registry): () => Metrics {
  const bytes = new Counter({
    name: 'shoal_p2p_bytes_total',
    help: 'bytes in and out over libp2p, per protocol ("connection" counts whole connections, after encryption)',
    labelNames: ['protocol', 'direction'],
    registers: [registry]
  })
  const track = (stream: Tracked, protocol: string): void => {
    const received = bytes.labels({ protocol, direction: 'in' })
    const sent = bytes.labels({ protocol, direction: 'out' })
    // as @libp2p/prometheus-metrics does: observe dispatched messages rather
    // than listen for them (a listener would start the stream's reading early)
    const dispatchEvent = stream.dispatchEvent.bind(stream)
    stream.dispatchEvent = (event: Event) => {
      if (event.type === 'message') received.inc((event as Event & { data: Uint8Array }).data.byteLength)
      return dispatchEvent(event)
    }
    const send = stream.send.bind(stream)
    stream.send = (data: { byteLength: number }) => {
      sent.inc(data.byteLength)
      return send(data)
    }
  }
  const metrics: Metrics = {
    trackMultiaddrConnection: (conn: MultiaddrConnection) => { track(conn as unknown as Tracked, 'connection') },
    trackProtocolStream: (stream: Stream) => { if (stream.protocol != null) track(stream as unknown as Tracked, stream.protocol) },
    registerMetric: () => NOTHING,
    registerMetricGroup: () => NOTHING,
    registerCounter: () => NOTHING,
    registerCounterGroup: () => NOTHING,
    registerHistogram: () => NOTHING,
    registerHistogramGroup: () => NOTHING,
    registerSummary: () => NOTHING,
    registerSummaryGroup: () => NOTHING,
    traceFunction: (_name: string, fn: any) => fn,
    createTrace: () => undefined
  }
  return () => metrics
}
