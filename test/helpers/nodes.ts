import path from 'node:path'
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
  stop(): Promise<void>
}

/**
 * `count` real libp2p nodes in this process on 127.0.0.1, each knowing only
 * the first node's address. mDNS is off: tests never leave loopback.
 */
export async function startNetwork (count: number, config: Partial<ShoalConfig> = {}, loggers: Logger[] = [], inits: (index: number) => Partial<NodeInit> = () => ({})): Promise<TestNetwork> {
  const { dir, cleanup } = await tempDir('shoal-net-')
  const nodes: ShoalNode[] = []
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await cleanup()
  }
  const add = async (extra: Partial<ShoalConfig> = {}, logger?: Logger, init: Partial<NodeInit> = {}): Promise<ShoalNode> => {
    const bootstrap = nodes.length === 0 ? [] : [nodes[0].addresses()[0]]
    const node = await ShoalNode.create({
      repoDir: path.join(dir, `node-${nodes.length}`),
      config: { ...DEFAULT_CONFIG, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, ...config, ...extra },
      logger,
      ...init
    })
    nodes.push(node)
    await node.start()
    return node
  }
  try {
    for (let i = 0; i < count; i++) await add({}, loggers[i], inits(i))
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes, add, stop }
}

/** Wait until every node sees every other as a storage member. */
export async function waitForMembership (nodes: ShoalNode[], timeoutMs = 20_000): Promise<void> {
  await waitFor(() => nodes.every(n => n.membership.peers().length >= nodes.length - 1), `${nodes.length} nodes to see each other as storage peers`, timeoutMs)
}
