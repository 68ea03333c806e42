import path from 'node:path'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { DEFAULT_CONFIG } from '../../src/config.ts'
import type { ShoalConfig } from '../../src/config.ts'
import { ShoalNode } from '../../src/node/node.ts'
import type { NodeInit } from '../../src/node/node.ts'
import type { Logger } from '../../src/platform/logger.ts'
import { tempDir, waitFor } from './tmp.ts'

export interface TestNetwork {
  nodes: ShoalNode[]
  /** start one more node that knows the first node's address */
  add(config?: Partial<ShoalConfig>, logger?: Logger, init?: Partial<NodeInit>): Promise<ShoalNode>
  /** stop `node` and start it again on its repo, with its settings and `config` changes (it takes its place in `nodes`) */
  restart(node: ShoalNode, config?: Partial<ShoalConfig>): Promise<ShoalNode>
  stop(): Promise<void>
}

/**
 * `count` real libp2p nodes in this process on 127.0.0.1, each knowing only
 * the first node's address. mDNS is off: tests never leave loopback.
 */
export async function startNetwork (count: number, config: Partial<ShoalConfig> = {}, loggers: Logger[] = [], inits: (index: number) => Partial<NodeInit> = () => ({})): Promise<TestNetwork> {
  const { dir, cleanup } = await tempDir('shoal-net-')
  const nodes: ShoalNode[] = []
  const made = new Map<ShoalNode, NodeInit>()
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await cleanup()
  }
  const add = async (extra: Partial<ShoalConfig> = {}, logger?: Logger, init: Partial<NodeInit> = {}): Promise<ShoalNode> => {
    const bootstrap = nodes.length === 0 ? [] : [nodes[0].addresses()[0]]
    const nodeInit: NodeInit = {
      repoDir: path.join(dir, `node-${made.size}`),
      config: { ...DEFAULT_CONFIG, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, ...config, ...extra },
      logger,
      ...init
    }
    const node = await ShoalNode.create(nodeInit)
    made.set(node, nodeInit)
    nodes.push(node)
    await node.start()
    return node
  }
  const restart = async (old: ShoalNode, config: Partial<ShoalConfig> = {}): Promise<ShoalNode> => {
    const known = made.get(old)
    if (known == null) throw new Error('not a node of this network')
    const nodeInit = { ...known, config: { ...known.config, ...config } }
    await old.stop()
    const bootstrap = nodes.filter(n => n !== old).slice(0, 1).map(n => n.addresses()[0])
    const node = await ShoalNode.create({ ...nodeInit, config: { ...nodeInit.config, bootstrap } })
    made.set(node, nodeInit)
    nodes[nodes.indexOf(old)] = node
    await node.start()
    return node
  }
  try {
    for (let i = 0; i < count; i++) await add({}, loggers[i], inits(i))
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes, add, restart, stop }
}

/** Wait until every node sees every other as a storage member. */
export async function waitForMembership (nodes: ShoalNode[], timeoutMs = 20_000): Promise<void> {
  await waitFor(() => nodes.every(n => n.membership.peers().length >= nodes.length - 1), `${nodes.length} nodes to see each other as storage peers`, timeoutMs)
}

/** A gater each node consults: peers in `blocked` can neither dial it nor be dialled. */
export function partitionGater (): { blocked: Set<string>, gater: ConnectionGater } {
  const blocked = new Set<string>()
  const deny = (peer: PeerId): boolean => blocked.has(peer.toString())
  return {
    blocked,
    gater: {
      denyDialPeer: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny
    }
  }
}

/** Cut every connection between the two groups and keep them cut. */
export async function split (groupA: ShoalNode[], groupB: ShoalNode[], gaters: Map<ShoalNode, Set<string>>): Promise<void> {
  for (const [mine, theirs] of [[groupA, groupB], [groupB, groupA]]) {
    for (const n of mine) for (const o of theirs) gaters.get(n)?.add(o.peerId.toString())
  }
  await Promise.all(groupA.flatMap(n => groupB.map(async o => { await n.libp2p.hangUp(o.peerId) })))
  await waitFor(() => [...groupA, ...groupB].every(n => {
    const group = groupA.includes(n) ? groupA : groupB
    return n.membership.peers().every(p => group.some(g => g.peerId.equals(p))) && n.membership.peers().length === group.length - 1
  }), 'the two groups to see only themselves', 20_000)
}

export async function heal (groupA: ShoalNode[], groupB: ShoalNode[], gaters: Map<ShoalNode, Set<string>>): Promise<void> {
  for (const s of gaters.values()) s.clear()
  await Promise.all(groupB.flatMap(n => groupA.map(async o => { await n.libp2p.dial(o.peerId).catch(() => {}) })))
  await waitForMembership([...groupA, ...groupB])
}

