/**
 * The RPC port's part in the metrics: `GET /metrics` (Prometheus's text
 * format, behind the same token as everything else on the port), and every
 * method and byte route timed by name and outcome.
 */
import { silentLogger } from '../platform/logger.ts'
import { readQuery, sendError } from './content-routes.ts'
import type { HttpRoute } from './server.ts'
import type { MethodTable } from './jsonrpc.ts'

export interface MetricsApi {
  text(): Promise<string>
  readonly contentType: string
  observeRequest(method: string, seconds: number, outcome: 'ok' | 'error'): void
}

/** The methods, each call timed (`outcome` error when it threw). */
export function timedMethods (methods: MethodTable, metrics: MetricsApi): MethodTable {
  return Object.fromEntries(Object.entries(methods).map(([name, handler]) => [name, async (params, context) => {
    const started = performance.now()
    let outcome: 'ok' | 'error' = 'error'
    try {
      const result = await handler(params, context)
      outcome = 'ok'
      return result
    } finally {
      metrics.observeRequest(name, (performance.now() - started) / 1000, outcome)
    }
  }]))
}

/** The byte routes, each request timed until its answer ended (`outcome` error for a status of 400 or more, or a cut answer). */
export function timedRoutes (routes: HttpRoute[], metrics: MetricsApi): HttpRoute[] {
  return routes.map(route => ({
    ...route,
    handle: async (req, res, context) => {
      const started = performance.now()
      res.once('close', () => {
        const ok = res.writableFinished && res.statusCode < 400
        metrics.observeRequest(`${route.method} ${route.name ?? route.path.source}`, (performance.now() - started) / 1000, ok ? 'ok' : 'error')
      })
      await route.handle(req, res, context)
    }
  }))
}

export function metricsRoute (metrics: MetricsApi): HttpRoute {
  return {
    method: 'GET',
    path: /^\/metrics$/,
    name: '/metrics',
    handle: async (_req, res, { url }) => {
      try {
        // no query parameters (its schema in api.ts): an unknown one is a 400 that names it
        readQuery('metrics', url.searchParams)
      } catch (err) {
        sendError(res, err, silentLogger)
        return
      }
      const body = await metrics.text()
      res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(body) })
      res.end(body)
    }
  }
}
