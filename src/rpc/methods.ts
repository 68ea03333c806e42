/**
 * The JSON-RPC methods: each maps onto the node's public API.
 */
import type { ShoalNode } from '../node/node.ts'
import { expectNoParams } from './jsonrpc.ts'
import type { MethodTable } from './jsonrpc.ts'
import { ParamReader } from './params.ts'

export type NodeApi = Pick<ShoalNode, 'id' | 'peers' | 'health' | 'files'>

export function nodeMethods (node: NodeApi): MethodTable {
  const { files } = node
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
    },
    'content.stat': async (params, { signal }) => {
      const p = new ParamReader(params, ['cid', 'replicas'])
      return await files.stat(p.string('cid'), { signal, replicas: p.optionalBoolean('replicas') })
    },
    'content.ls': async (params, { signal }) => {
      const p = new ParamReader(params, ['cid'])
      return (await files.ls(p.string('cid'), { signal })).map(e => ({ ...e, cid: e.cid.toString() }))
    },
    'pin.add': async (params, { signal }) => {
      const p = new ParamReader(params, ['cid', 'recursive'])
      return await files.pin(p.string('cid'), { recursive: p.optionalBoolean('recursive'), signal })
    },
    'pin.rm': async (params) => {
      const p = new ParamReader(params, ['cid'])
      const cid = p.string('cid')
      await files.unpin(cid)
      return { cid }
    },
    'pin.ls': async (params) => {
      expectNoParams(params)
      return await files.pins()
    },
    'repo.gc': async (params, { signal }) => {
      expectNoParams(params)
      return await files.gc({ signal })
    },
    'repo.stat': async (params) => {
      expectNoParams(params)
      return await files.repoStat()
    }
  }
}
