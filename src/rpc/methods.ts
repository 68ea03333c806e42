/**
 * The JSON-RPC methods: each maps onto the node's public API. The OpenRPC
 * document and docs/rpc.md describe them for app authors.
 */
import type { ShoalNode } from '../node/node.ts'
import { expectNoParams } from './jsonrpc.ts'
import type { MethodTable } from './jsonrpc.ts'

export type NodeApi = Pick<ShoalNode, 'id' | 'peers' | 'health'>

export function nodeMethods (node: NodeApi): MethodTable {
  return {
    'node.id': (params) => {
      expectNoParams(params)
      return node.id()
    },
    'peer.list': (params) => {
      expectNoParams(params)
      return node.peers()
    },
    'node.health': (params) => {
      expectNoParams(params)
      return node.health()
    }
  }
}
