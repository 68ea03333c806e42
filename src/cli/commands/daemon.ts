import { DEFAULT_CONFIG, parseHostPort, validateMultiaddr } from '../../config.ts'
import type { ShoalConfig } from '../../config.ts'
import { startDaemon } from '../../daemon/daemon.ts'
import { installProcessGuard } from '../../platform/guard.ts'
import { createLogger, isLogLevel } from '../../platform/logger.ts'
import { resolveRepoDir } from '../../platform/repo.ts'
import { onShutdownSignal } from '../../platform/signals.ts'
import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command } from '../command.ts'
import { printJson } from '../io.ts'

/** Stop must finish within this; after it the process exits regardless. */
const SHUTDOWN_DEADLINE_MS = 5000

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'Run a shoal node: the p2p network and the RPC port that the other commands use.',
  usage: 'daemon [--repo DIR] [--listen MULTIADDR]... [--rpc HOST:PORT] [--gateway HOST:PORT] [--bootstrap MULTIADDR]... [--no-mdns] [--replicas N] [--quorum N]',
  description: [
    'Creates the repo on first start (config.json with the embedded defaults, identity.key).',
    `Defaults: p2p on ${DEFAULT_CONFIG.listen.join(', ')}, RPC on ${DEFAULT_CONFIG.rpc}, mDNS on.`,
    'Flags override the config file for this run only. SIGINT or SIGTERM stops the node cleanly.'
  ].join('\n'),
  options: {
    repo: repoOption,
    listen: { type: 'string', multiple: true, value: 'MULTIADDR', description: 'p2p listen address, e.g. /ip4/127.0.0.1/tcp/0' },
    rpc: { type: 'string', value: 'HOST:PORT', description: 'RPC address (port 0 picks a free port)' },
    gateway: { type: 'string', value: 'HOST:PORT', description: 'open the read-only HTTP gateway (/ipfs/CID) there; off by default' },
    bootstrap: { type: 'string', multiple: true, value: 'MULTIADDR', description: 'peer to join at start, ending with /p2p/PEER_ID' },
    'no-mdns': { type: 'boolean', description: 'do not look for peers on the local network' },
    replicas: { type: 'string', value: 'N', description: `copies of every block and name, self included (default ${DEFAULT_CONFIG.replicas})` },
    quorum: { type: 'string', value: 'N', description: 'confirmed copies a write needs, or it fails (default: a majority of replicas)' },
    'log-level': { type: 'string', value: 'LEVEL', description: 'debug, info, warn, error or silent (default: info)' },
    'log-json': { type: 'boolean', description: 'write logs as JSON lines' },
    json: { ...jsonOption, description: 'print the ready line as JSON' }
  },
  async run (ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument "${ctx.positionals[0]}"`)
    const v = ctx.values
    const level = (v['log-level'] as string | undefined) ?? 'info'
    if (!isLogLevel(level)) throw new UsageError(`invalid --log-level "${level}"`)
    const overrides: Partial<ShoalConfig> = {
      listen: (v.listen as string[] | undefined)?.map(a => validateMultiaddr(a, '--listen address')),
      bootstrap: (v.bootstrap as string[] | undefined)?.map(a => validateMultiaddr(a, '--bootstrap address', true)),
      rpc: v.rpc == null ? undefined : (parseHostPort(v.rpc as string), v.rpc as string),
      gateway: v.gateway == null ? undefined : (parseHostPort(v.gateway as string), v.gateway as string),
      mdns: v['no-mdns'] === true ? false : undefined,
      replicas: countFlag(v.replicas, '--replicas'),
      quorum: countFlag(v.quorum, '--quorum')
    }
    const logger = createLogger({ level, json: v['log-json'] === true, write: ctx.io.stderr })
    const repoDir = resolveRepoDir({ repo: v.repo as string | undefined, env: ctx.io.env })

    // a bug in one request must not end the node for everyone else
    const removeGuard = installProcessGuard(logger)
    const daemon = await startDaemon({ repoDir, overrides, logger }).catch((err: unknown) => {
      removeGuard()
      throw err
    })
    const info = daemon.node.id()
    const ready = { peerId: info.peerId, addresses: info.addresses, rpc: daemon.rpcAddress, gateway: daemon.gatewayAddress, repo: repoDir, version: info.version }
    if (v.json === true) {
      printJson(ctx.io, ready)
    } else {
      ctx.io.stdout(`shoal daemon ready\npeer id  ${ready.peerId}\nrpc      ${ready.rpc}\n` +
        (ready.gateway == null ? '' : `gateway  http://${ready.gateway}/ipfs/\n`) + `repo     ${ready.repo}\n` +
        ready.addresses.map(a => `p2p      ${a}\n`).join(''))
    }

    return await new Promise<number>(resolve => {
      const dispose = onShutdownSignal(signal => {
        logger.info('shutting down', { signal })
        setTimeout(() => {
          logger.error(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms, exiting anyway`)
          process.exit(1)
        }, SHUTDOWN_DEADLINE_MS).unref()
        daemon.stop().then(() => {
          dispose()
          removeGuard()
          resolve(0)
        }, err => {
          logger.error('shutdown failed', { error: (err as Error).message })
          resolve(1)
        })
      }, signal => {
        logger.warn('second signal: exiting now', { signal })
        process.exit(130)
      })
    })
  }
}

function countFlag (raw: unknown, flag: string): number | undefined {
  if (raw == null) return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`${flag} must be a whole number from 1 to 64, not "${String(raw)}"`)
  return n
}
