/**
 * The JSON-RPC methods: each maps onto the node's public API.
 */
import type { PinType } from '../node/files.ts'
import type { ShoalNode } from '../node/node.ts'
import { expectNoParams } from './jsonrpc.ts'
import type { MethodTable } from './jsonrpc.ts'
import { ParamReader } from './params.ts'
import { subscriptionMethods } from './subscriptions.ts'

export type NodeApi = Pick<ShoalNode, 'id' | 'peers' | 'health' | 'files' | 'names' | 'repairStatus' | 'runRepair' | 'watch'>

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
    'content.refs': async (params, { signal }) => {
      const p = new ParamReader(params, ['cid', 'recursive', 'unique', 'maxDepth'])
      return await files.refs(p.string('cid'), { recursive: p.optionalBoolean('recursive'), unique: p.optionalBoolean('unique'), maxDepth: p.optionalCount('maxDepth'), signal })
    },
    'block.stat': async (params, { signal }) => {
      const p = new ParamReader(params, ['cid'])
      return await files.blockStat(p.string('cid'), { signal })
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
    'pin.ls': async (params, { signal }) => {
      const p = new ParamReader(params, ['type', 'cid'])
      return await files.pins({ type: p.optionalString('type') as PinType | undefined, cid: p.optionalString('cid'), signal })
    },
    'repo.gc': async (params, { signal }) => {
      expectNoParams(params)
      return await files.gc({ signal })
    },
    'repo.stat': async (params) => {
      expectNoParams(params)
      return await files.repoStat()
    },
    'repair.status': (params) => {
      expectNoParams(params)
      return node.repairStatus()
    },
    'repair.run': (params) => {
      expectNoParams(params)
      return node.runRepair()
    },
    ...nameMethods(node),
    // name.subscribe, node.subscribe and their unsubscribe (WebSocket only)
    ...subscriptionMethods(node)
  }
}

/** `name.*`: mutable names (src/names/service.ts). */
function nameMethods (node: NodeApi): MethodTable {
  const { names } = node
  return {
    'name.put': async (params, { signal }) => {
      const p = new ParamReader(params, ['path', 'cid', 'context', 'size', 'mode', 'meta'])
      return await names.put(p.string('path'), {
        cid: p.string('cid'),
        size: p.optionalCount('size'),
        mode: p.optionalCount('mode'),
        meta: p.optionalStringMap('meta')
      }, { context: p.optionalString('context'), signal })
    },
    'name.get': async (params, { signal }) => {
      const p = new ParamReader(params, ['path'])
      return await names.get(p.string('path'), { signal })
    },
    'name.ls': async (params, { signal }) => {
      const p = new ParamReader(params, ['prefix'])
      return await names.list(p.optionalString('prefix'), { signal })
    },
    'name.rm': async (params, { signal }) => {
      const p = new ParamReader(params, ['path', 'context'])
      return await names.remove(p.string('path'), { context: p.optionalString('context'), signal })
    },
    'name.conflicts': async (params, { signal }) => {
      expectNoParams(params)
      return await names.conflicts({ signal })
    },
    'name.resolve': async (params, { signal }) => {
      const p = new ParamReader(params, ['path', 'cid', 'size'])
      return await names.resolve(p.string('path'), p.string('cid'), { size: p.optionalCount('size'), signal })
    }
  }
}
