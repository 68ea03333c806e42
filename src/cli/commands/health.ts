import type { NodeHealth } from '../../node/node.ts'
import { jsonOption, repoOption } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'

export const healthCommand: Command = {
  name: 'health',
  summary: 'Show whether the running node is healthy: status, uptime, peers, DHT.',
  usage: 'health [--repo DIR] [--json]',
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    const health = await (await daemonClient(ctx)).call<NodeHealth>('node.health')
    if (ctx.values.json === true) {
      printJson(ctx.io, health)
      return 0
    }
    ctx.io.stdout(formatTable([
      ['status', health.status],
      ['version', health.version],
      ['uptime', `${health.uptimeSeconds} s`],
      ['peers', String(health.peers)],
      ['routing table', `${health.routingTable} peers`],
      ['dht mode', health.dhtMode]
    ]))
    return health.status === 'ok' ? 0 : 1
  }
}
