/**
 * The JSON-RPC methods: each entry of the method table (api.ts) mapped onto
 * the node's public API, through `implement` (params checked first, results
 * typed against the table).
 */
import { SubscriptionError } from '../errors.ts'
import type { ShoalNode } from '../node/node.ts'
import { implement } from './implement.ts'
import type { MethodTable } from './jsonrpc.ts'
import { openRpcDocument } from './openrpc.ts'
import { subscriptionMethods } from './subscriptions.ts'

export type NodeApi = Pick<ShoalNode, 'id' | 'peers' | 'health' | 'files' | 'names' | 'repairStatus' | 'runRepair' | 'watch'>

export interface RpcMethodsInit {
  node: NodeApi
  /** token.rotate: writes a new token and makes the server take only it (daemon.ts) */
  rotateToken(): Promise<{ file: string }>
}

/** Every method of the table, over HTTP and WebSocket. */
export function rpcMethods ({ node, rotateToken }: RpcMethodsInit): MethodTable {
  const { files } = node
  let discovered: ReturnType<typeof openRpcDocument> | undefined
  return {
    ...implement({
      'node.id': () => node.id(),
      'peer.list': () => node.peers(),
      'node.health': () => node.health(),
      'content.stat': async ({ cid, replicas }, { signal }) => {
        const { mtime, ...stat } = await files.stat(cid, { signal, replicas })
        return { ...stat, ...(mtime == null ? {} : { mtime: mtime.toISOString() }) }
      },
      'content.ls': async ({ cid }, { signal }) => (await files.ls(cid, { signal })).map(e => ({ ...e, cid: e.cid.toString() })),
      'content.refs': async ({ cid, ...options }, { signal }) => await files.refs(cid, { ...options, signal }),
      'block.stat': async ({ cid }, { signal }) => await files.blockStat(cid, { signal }),
      'pin.add': async ({ cid, recursive }, { signal, onProgress }) => await files.pin(cid, { recursive, signal, onProgress: onProgress == null ? undefined : (e) => { onProgress(withCidText(e)) } }),
      'pin.rm': async ({ cid }) => {
        await files.unpin(cid)
        return { cid }
      },
      'pin.ls': async (params, { signal }) => await files.pins({ ...params, signal }),
      'repo.gc': async (_params, { signal, onProgress }) => await files.gc({ signal, onProgress: onProgress == null ? undefined : (e) => { onProgress(withCidText(e)) } }),
      'repo.stat': async () => await files.repoStat(),
      'repair.status': () => node.repairStatus(),
      'repair.run': () => node.runRepair(),
      'name.put': async ({ path, context, ...value }, { signal }) => await node.names.put(path, value, { context, signal }),
      'name.get': async ({ path }, { signal }) => await node.names.get(path, { signal }),
      'name.ls': async ({ prefix }, { signal }) => await node.names.list(prefix, { signal }),
      'name.rm': async ({ path, context }, { signal }) => await node.names.remove(path, { context, signal }),
      'name.conflicts': async (_params, { signal }) => await node.names.conflicts({ signal }),
      'name.resolve': async ({ path, cid, size }, { signal }) => await node.names.resolve(path, cid, { size, signal }),
      'token.rotate': async () => await rotateToken(),
      'rpc.auth': () => {
        // a socket's rpc.auth is answered by websocket.ts before it gets here
        throw new SubscriptionError('rpc.auth authenticates a WebSocket (ws://HOST:PORT/rpc); over HTTP send "Authorization: Bearer <token>"')
      },
      'rpc.discover': () => (discovered ??= openRpcDocument())
    }),
    // name.subscribe, node.subscribe and their unsubscribe (WebSocket only)
    ...subscriptionMethods(node)
  }
}

/** A progress event as JSON says it: a CID in the detail as its text. */
function withCidText (event: { type: string, detail: object }): { type: string, detail: unknown } {
  const detail = event.detail as { cid?: { toString(): string } }
  return detail.cid == null ? event : { type: event.type, detail: { ...detail, cid: detail.cid.toString() } }
}
