import { jsonOption, repoOption } from '../command.ts'
import type { Command } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'

export const peersCommand: Command = {
  name: 'peers',
  summary: 'List the peers the running node is connected to.',
  usage: 'peers [--repo DIR] [--json]',
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    const peers = await (await daemonClient(ctx)).call('peer.list')
    if (ctx.values.json === true) {
      printJson(ctx.io, peers)
      return 0
    }
    if (peers.length === 0) {
      ctx.io.stdout('no peers connected\n')
      return 0
    }
    ctx.io.stdout(formatTable(peers.map(p => [p.peerId, p.addresses[0] ?? '', p.direction, p.rttMs == null ? '' : `${p.rttMs} ms`])))
    return 0
  }
}
