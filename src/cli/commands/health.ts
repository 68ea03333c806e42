import { jsonOption, repoOption } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'
import { formatBytes } from '../progress.ts'

export const healthCommand: Command = {
  name: 'health',
  summary: 'Show whether the running node is healthy: status, uptime, peers, DHT. Exits 0 only when the status is ok.',
  description: 'degraded: the node runs, but something it promises cannot be kept now (too few storage peers for the configured replicas); the reasons are listed.',
  usage: 'health [--repo DIR] [--json]',
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    const health = await (await daemonClient(ctx)).call('node.health')
    const code = health.status === 'ok' ? 0 : 1
    if (ctx.values.json === true) {
      printJson(ctx.io, health)
      return code
    }
    ctx.io.stdout(formatTable([
      ['status', health.status],
      ...health.problems.map(p => ['problem', p]),
      ['version', health.version],
      ['uptime', `${health.uptimeSeconds} s`],
      ['peers', `${health.peers} (${health.storagePeers} storing)`],
      ['replicas', `k=${health.replicas}, quorum ${health.quorum}`],
      ['storage', health.storage.maxBytes > 0 ? `${formatBytes(health.storage.usedBytes)} of ${formatBytes(health.storage.maxBytes)} (storageMax)` : `${formatBytes(health.storage.usedBytes)} (no quota)`],
      ['under-replicated', `${health.underReplicated.blocks} blocks (${formatBytes(health.underReplicated.bytes)})`],
      ['repair', health.repair.running ? `running, ${formatBytes(health.repair.rateBytesPerSecond)}/s` : 'idle'],
      ['network', health.network.private ? `private (swarm key ${health.network.fingerprint ?? ''})` : 'public (no swarm key)'],
      ['routing table', `${health.routingTable} peers`],
      ['dht mode', health.dhtMode]
    ]))
    return code
  }
}
