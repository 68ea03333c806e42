/**
 * One daemon process: lock the repo, load (or create) its config and
 * identity, start the node, open the RPC port and advertise it in the repo,
 * and undo all of it in order on stop.
 */
import fs from 'node:fs/promises'
import { collectDefaultMetrics } from 'prom-client'
import { loadOrCreateConfig } from '../config.ts'
import type { ShoalConfig } from '../config.ts'
import { startGateway } from '../gateway/gateway.ts'
import type { GatewaySource } from '../gateway/gateway.ts'
import { ShoalNode } from '../node/node.ts'
import { readFileIfExists, writeFileAtomic } from '../platform/files.ts'
import { silentLogger } from '../platform/logger.ts'
import type { Logger } from '../platform/logger.ts'
import { acquireRepoLock, ensureRepoDir, repoPaths } from '../platform/repo.ts'
import type { RepoPaths } from '../platform/repo.ts'
import { blockRoutes } from '../rpc/block-routes.ts'
import { contentRoutes } from '../rpc/content-routes.ts'
import { rpcMethods } from '../rpc/methods.ts'
import { metricsRoute, timedMethods, timedRoutes } from '../rpc/metrics.ts'
import { isRpcToken, newRpcToken, startRpcServer } from '../rpc/server.ts'
import type { ApiFile } from '../client/locate.ts'

/** `shoal init`: a repo made ready without starting anything (node/init.ts) */
export { initRepo } from '../node/init.ts'
export type { InitOptions, InitResult } from '../node/init.ts'

export interface DaemonInit {
  repoDir: string
  /** command-line overrides of the config file, for this run only */
  overrides?: Partial<ShoalConfig>
  logger?: Logger
  /** tests may isolate networks with their own DHT protocol */
  dhtProtocol?: string
}

export interface Daemon {
  readonly node: ShoalNode
  readonly paths: RepoPaths
  readonly config: ShoalConfig
  /** the RPC address actually bound */
  readonly rpcAddress: string
  /** the gateway's address actually bound, when config `gateway` opens one */
  readonly gatewayAddress?: string
  /** open RPC WebSockets and the subscriptions they hold */
  webSocketStats(): { sockets: number, subscriptions: number }
  stop(): Promise<void>
}

export async function startDaemon (init: DaemonInit): Promise<Daemon> {
  const log = init.logger ?? silentLogger
  const paths = repoPaths(init.repoDir)
  await ensureRepoDir(paths.root)
  const lock = await acquireRepoLock(paths)
  const undo: Array<() => Promise<void>> = [async () => { await lock.release() }]
  const rollback = async (): Promise<void> => {
    for (const step of undo.reverse()) {
      await step().catch(err => { log.error('shutdown step failed', { error: (err as Error).message }) })
    }
  }

  try {
    const { config: fileConfig, created } = await loadOrCreateConfig(paths.config)
    if (created) log.info('created repo with default config', { repo: paths.root })
    const overrides = definedOnly(init.overrides ?? {})
    // fewer replicas asked for than the configured quorum: the quorum follows
    if (overrides.replicas != null && overrides.quorum == null) overrides.quorum = Math.min(fileConfig.quorum, overrides.replicas)
    const config: ShoalConfig = { ...fileConfig, ...overrides }

    const node = await ShoalNode.create({ repoDir: paths.root, config, logger: log.child('node'), dhtProtocol: init.dhtProtocol })
    await node.start()
    undo.push(async () => { await node.stop() })
    // the runtime's own (CPU, memory, event loop, GC): once per process, and a daemon is one
    collectDefaultMetrics({ register: node.metrics.registry })

    const kept = config.rpcTokenStable ? (await readFileIfExists(paths.rpcToken))?.toString('utf8').trim() : undefined
    const token = kept != null && isRpcToken(kept) ? kept : newRpcToken()
    if (token !== kept) await writeFileAtomic(paths.rpcToken, token + '\n', 0o600)
    const rotate = async (): Promise<{ file: string }> => {
      const next = newRpcToken()
      // the file first: a client that reads it after this call's answer finds the token in force
      await writeFileAtomic(paths.rpcToken, next + '\n', 0o600)
      rpc.setToken(next)
      log.info('RPC token rotated: the old one is refused from now on', { file: paths.rpcToken })
      return { file: paths.rpcToken }
    }
    const rpc = await startRpcServer({
      listen: config.rpc,
      token,
      methods: timedMethods(rpcMethods({ node, rotateToken: rotate }), node.metrics),
      routes: [...timedRoutes([...contentRoutes(node.files, log.child('rpc')), ...blockRoutes(node.files, log.child('rpc'))], node.metrics), metricsRoute(node.metrics)],
      allowedHosts: config.rpcAllowedHosts,
      maxConnections: config.rpcMaxConnections,
      readTimeoutMs: config.rpcReadTimeoutSeconds * 1000,
      logger: log.child('rpc')
    })
    undo.push(async () => { await rpc.close() })

    let gatewayAddress: string | undefined
    if (config.gateway != null) {
      const gateway = await startGateway({
        listen: config.gateway,
        source: gatewaySource(node),
        maxConnections: config.rpcMaxConnections,
        readTimeoutMs: config.rpcReadTimeoutSeconds * 1000,
        logger: log.child('gateway')
      })
      undo.push(async () => { await gateway.close() })
      gatewayAddress = gateway.address
      if (!/^(127\.|\[::1\]|localhost:)/.test(gateway.address)) {
        log.warn('the gateway listens beyond loopback: whoever reaches it can read everything this cluster stores', { address: gateway.address })
      }
    }

    const api: ApiFile = { rpc: rpc.address, pid: process.pid }
    await writeFileAtomic(paths.api, JSON.stringify(api) + '\n', 0o600)
    undo.push(async () => { await fs.rm(paths.api, { force: true }) })

    let stopping: Promise<void> | undefined
    return {
      node,
      paths,
      config,
      rpcAddress: rpc.address,
      gatewayAddress,
      webSocketStats: () => rpc.webSocketStats(),
      stop: async () => {
        stopping ??= rollback()
        await stopping
      }
    }
  } catch (err) {
    await rollback()
    throw err
  }
}

/** The node's files as the gateway reads them. */
function gatewaySource (node: ShoalNode): GatewaySource {
  const { files } = node
  return {
    block: async (cid, options) => await files.blockGet(cid.toString(), options),
    resolve: async (root, path, options) => await files.stat({ root, path }, { ...options, replicas: false }),
    cat: (cid, options) => files.cat(cid, options),
    ls: async (cid, options) => await files.ls(cid, options),
    car: (root, request) => files.exportCar(root.toString(), request)
  }
}

function definedOnly<T extends object> (value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
