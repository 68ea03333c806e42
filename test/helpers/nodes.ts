import path from 'node:path'
import { DEFAULT_CONFIG } from '../../src/config.ts'
import type { ShoalConfig } from '../../src/config.ts'
import { ShoalNode } from '../../src/node/node.ts'
import { tempDir } from './tmp.ts'

export interface TestNetwork {
  nodes: ShoalNode[]
  stop(): Promise<void>
}

/**
 * `count` real libp2p nodes in this process on 127.0.0.1, each knowing only
 * the first node's address. mDNS is off: tests never leave loopback.
 */
export async function startNetwork (count: number, config: Partial<ShoalConfig> = {}): Promise<TestNetwork> {
  const { dir, cleanup } = await tempDir('shoal-net-')
  const nodes: ShoalNode[] = []
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await cleanup()
  }
  try {
    for (let i = 0; i < count; i++) {
      const bootstrap = i === 0 ? [] : [nodes[0].addresses()[0]]
      const node = await ShoalNode.create({
        repoDir: path.join(dir, `node-${i}`),
        config: { ...DEFAULT_CONFIG, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, ...config }
      })
      nodes.push(node)
      await node.start()
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes, stop }
}
