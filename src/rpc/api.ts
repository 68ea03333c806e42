/**
 * The RPC port's contract, as data: every JSON-RPC method (its summary, its
 * description, a zod schema of its params and one of its result) and every
 * byte route (its query's schema, its body, its answer). From this one table
 * come the params' validation (methods.ts, content-routes.ts), `rpc.discover`
 * (openrpc.ts), docs/rpc.md (scripts/rpc-docs.ts) and the typed client
 * (src/client/).
 *
 * It imports nothing but zod, so that an app's client can load it without
 * the node. Params are strict objects (an unknown key is refused); by
 * position, params are taken in the order of the schema's keys. Results are
 * described as they go over the wire (JSON: dates as ISO strings).
 */
import { z } from 'zod'

// ---- pieces --------------------------------------------------------------

const count = z.int().min(0)
const cid = z.string().min(1).describe('a CID, or CID/path below it')
const rootCid = z.string().min(1).describe('a CID')
const namePath = z.string().min(1).describe('a name, e.g. /photos/cat.jpg')
const context = z.string().min(1).describe('the context token a read gave: the write replaces what that read saw')
const moved = z.object({ blocks: count, bytes: count })
const peerId = z.string().describe('a libp2p peer id')

const contentType = z.enum(['file', 'directory', 'raw', 'symlink'])

const replicaStatus = z.object({
  k: count,
  blocks: count.describe('blocks of the DAG'),
  histogram: z.array(count).describe('histogram[n]: blocks with n confirmed replicas in their replica set, n = 0..k'),
  rootHolders: z.array(peerId).describe('peers (this one included) that hold the root block')
})

const contentStat = z.object({
  cid: z.string(),
  type: contentType.describe('raw: a file held in one raw block'),
  size: count.describe('file bytes (file, raw), the cumulative DAG size (directory), the target\'s length (symlink)'),
  cumulativeSize: count.describe('the root block plus the sizes its links declare'),
  blockSize: count,
  blocks: count.describe('links out of the root block'),
  sharded: z.boolean().optional().describe('directories: the root is a HAMT shard'),
  mode: count.optional().describe('UnixFS mode (permission bits)'),
  mtime: z.string().optional().describe('UnixFS mtime, ISO 8601'),
  target: z.string().optional().describe('symlinks: the target'),
  replicas: replicaStatus.optional().describe('where the blocks are (unless replicas: false)')
})

const replicationReport = z.object({
  blocks: count,
  k: count,
  quorum: count.describe('confirmed copies each block needed'),
  replicas: z.array(count).describe('replicas[n]: blocks with n confirmed replicas'),
  short: count.describe('blocks below their quorum'),
  reachable: count.describe('size of the largest replica set (storage peers reachable, at most k)')
})

const addResult = z.object({
  cid: z.string(),
  size: count.describe('file bytes'),
  blocks: count,
  replication: replicationReport,
  entries: z.array(z.object({ path: z.string(), cid: z.string(), type: z.enum(['file', 'directory', 'symlink']), size: count }))
    .optional().describe('a tree: every entry below the root, in `ipfs add -r` order')
})

const sibling = z.object({
  version: z.string().describe('the write\'s dot, "actor:counter"'),
  deleted: z.literal(true).optional(),
  cid: z.string().optional(),
  size: count.optional(),
  mode: count.optional(),
  mtime: z.number().describe('ms since the epoch, by the writer\'s clock'),
  owner: peerId,
  meta: z.record(z.string(), z.string()).optional()
})

const nameInfo = z.object({
  path: z.string(),
  exists: z.boolean().describe('at least one live value'),
  conflict: z.boolean().describe('more than one live value (siblings)'),
  value: sibling.nullable().describe('the default winner (latest mtime, then owner), for display'),
  siblings: z.array(sibling).describe('live values, the winner first, then tombstones'),
  context: z.string().describe('send it back with the next write to replace what was read')
})

const writeOutcome = nameInfo.extend({
  written: sibling,
  replaced: count.describe('siblings this write replaced'),
  replicas: z.object({ confirmed: count, quorum: count, replicaSet: count }),
  warning: z.string().optional()
})

const repairReport = z.object({
  startedAt: z.number(),
  endedAt: z.number(),
  peers: count,
  inSync: count,
  pushed: moved,
  pulled: moved,
  handedOff: moved,
  claimed: count,
  exchangedBytes: count,
  failures: count
})

const healthState = z.object({ status: z.string(), problems: z.array(z.string()) })

const nodeEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('peer.joined'), peer: peerId }),
  z.object({ type: z.literal('peer.left'), peer: peerId }),
  z.object({ type: z.literal('health'), status: z.string(), problems: z.array(z.string()), previous: healthState }),
  z.object({ type: z.literal('repair.started'), startedAt: z.number() }),
  z.object({ type: z.literal('repair.ended'), report: repairReport })
])

const subscriptionId = z.string().describe('the subscription id, named in each notification')

const none = z.strictObject({})

// ---- the methods -----------------------------------------------------------

export interface MethodSpec {
  summary: string
  description: string
  /** a strict object: its keys are the params by name, and their order by position */
  params: z.ZodObject
  result: z.ZodType
  /** a subscription's notifications: `{subscription, result}` with this result */
  notification?: z.ZodType
  /** only over a WebSocket (`ws://HOST:PORT/rpc`) */
  webSocketOnly?: true
  /** a long call's progress events, sent over a WebSocket before its answer: `{"method":"progress","params":{request, event}}` */
  progress?: z.ZodType
}

/** Keeps each entry's own schema types (for the client's inference) while checking it is a MethodSpec. */
function methods<T extends Record<string, MethodSpec>> (table: T): T {
  return table
}

export const METHODS = methods({
  'node.id': {
    summary: 'This node\'s identity',
    description: 'The peer id, the addresses it listens on, the version and the protocols it speaks.',
    params: none,
    result: z.object({ peerId, addresses: z.array(z.string()), version: z.string(), protocols: z.array(z.string()) })
  },
  'peer.list': {
    summary: 'The connected peers',
    description: 'Every open connection: the peer, its address, the direction, and the round trip of its last ping when known.',
    params: none,
    result: z.array(z.object({ peerId, addresses: z.array(z.string()), direction: z.enum(['inbound', 'outbound']), rttMs: z.number().optional() }))
  },
  'node.health': {
    summary: 'Whether the node can keep its promises now',
    description: 'ok, degraded (with the problems, one sentence each), starting or stopping; peers, under-replicated blocks, repair, storage and network.',
    params: none,
    result: z.object({
      status: z.enum(['ok', 'degraded', 'starting', 'stopping']),
      version: z.string(),
      uptimeSeconds: z.number(),
      peers: count,
      storagePeers: count.describe('connected peers that store blocks and names'),
      replicas: count.describe('k: copies of everything'),
      quorum: count.describe('the write quorum'),
      routingTable: count,
      dhtMode: z.enum(['client', 'server']),
      problems: z.array(z.string()),
      underReplicated: moved.describe('held here in ranges with fewer live copies than k'),
      repair: z.object({ running: z.boolean(), rateBytesPerSecond: z.number() }),
      storage: z.object({ usedBytes: count, maxBytes: count.describe('the quota (0: none)') }),
      network: z.object({ private: z.boolean(), fingerprint: z.string().optional() })
    })
  },
  'content.stat': {
    summary: 'What a CID is',
    description: 'Its type, sizes, UnixFS mode and mtime, and (unless replicas is false) how many replicas each of its blocks has and who holds the root. Blocks are fetched from the network when not held here.',
    params: z.strictObject({ cid, replicas: z.boolean().optional().describe('count the replicas (default true)') }),
    result: contentStat
  },
  'content.ls': {
    summary: 'A directory\'s entries',
    description: 'Each entry\'s name, CID, type and size (file bytes; for a directory the size its link declares).',
    params: z.strictObject({ cid }),
    result: z.array(z.object({ name: z.string(), cid: z.string(), type: z.enum(['file', 'directory', 'raw', 'symlink', 'unknown']), size: count }))
  },
  'content.refs': {
    summary: 'The CIDs a DAG links to',
    description: 'As Kubo\'s `ipfs refs`: the root\'s links, or with recursive every link below, depth first.',
    params: z.strictObject({
      cid,
      recursive: z.boolean().optional().describe('every link below, not only the root\'s'),
      unique: z.boolean().optional().describe('each CID once'),
      maxDepth: count.optional().describe('with recursive: how deep (1: the root\'s links)')
    }),
    result: z.array(z.string())
  },
  'block.stat': {
    summary: 'One block\'s size and codec',
    description: 'The block\'s bytes and its CID\'s codec by name (dag-pb, raw, ...; 0x... when shoal has no name for it).',
    params: z.strictObject({ cid: rootCid }),
    result: z.object({ cid: z.string(), size: count, codec: z.string() })
  },
  'pin.add': {
    summary: 'Pin a DAG here',
    description: 'Fetches what is missing and keeps it from GC: the whole DAG (recursive, the default) or only the root block.',
    params: z.strictObject({ cid, recursive: z.boolean().optional().describe('the whole DAG (default true)') }),
    result: z.object({ cid: z.string(), blocks: count, bytes: count }),
    progress: z.discriminatedUnion('type', [
      z.object({ type: z.literal('pin:fetched'), detail: z.object({ blocks: count, bytes: count }).describe('blocks of the DAG read so far, here or from the network') }),
      z.object({ type: z.literal('pin:block'), detail: z.object({ cid: z.string(), blocks: count, bytes: count }).describe('blocks covered by the pin so far') })
    ])
  },
  'pin.rm': {
    summary: 'Unpin',
    description: 'The blocks become collectable (unless another pin or this node\'s share of the network holds them). Fails ERR_NOT_PINNED when it is not pinned.',
    params: z.strictObject({ cid: rootCid }),
    result: z.object({ cid: z.string() })
  },
  'pin.ls': {
    summary: 'The pins',
    description: 'Without a type, the roots; recursive, direct, indirect or all as Kubo\'s `pin ls --type`. With a cid: how that CID is pinned, or ERR_NOT_PINNED.',
    params: z.strictObject({ type: z.enum(['recursive', 'direct', 'indirect', 'all']).optional(), cid: rootCid.optional() }),
    result: z.array(z.object({
      cid: z.string(),
      mode: z.enum(['recursive', 'direct', 'indirect']),
      blocks: count.optional(),
      bytes: count.optional(),
      created: z.string().optional(),
      through: z.string().optional().describe('indirect: the recursive pin whose DAG holds it')
    }))
  },
  'repo.gc': {
    summary: 'Collect garbage',
    description: 'Removes the blocks that no pin, write session or share of the network holds.',
    params: none,
    result: z.object({ removedBlocks: count, freedBytes: count }),
    progress: z.object({ type: z.literal('gc:removed'), detail: z.object({ cid: z.string(), size: count, removedBlocks: count, freedBytes: count }) })
  },
  'repo.stat': {
    summary: 'What the store holds',
    description: 'Blocks and bytes stored, pins, the filesystem\'s free and total bytes, the quota and the cache GC would reclaim.',
    params: none,
    result: z.object({ blocks: count, bytes: count, pins: count, freeBytes: count, totalBytes: count, maxBytes: count, cacheBytes: count })
  },
  'repair.status': {
    summary: 'Repair and scrub',
    description: 'The pass in progress, the last one, totals, under-replicated blocks, members within their grace period, the settings and scrub\'s counts.',
    params: none,
    result: z.object({
      running: z.boolean(),
      current: z.object({ startedAt: z.number(), phase: z.enum(['claim', 'sync', 'handoff']), peer: peerId.optional(), pushed: moved, pulled: moved, handedOff: moved }).optional(),
      rateBytesPerSecond: z.number(),
      last: repairReport.optional(),
      totals: z.object({ passes: count, pushed: moved, pulled: moved, handedOff: moved }),
      underReplicated: moved.extend({ ranges: count }),
      departed: z.array(z.object({ peer: peerId, since: z.string() })),
      settings: z.object({ graceMs: z.number(), intervalMs: z.number(), bytesPerSecond: z.number() }),
      scrub: z.object({
        checkedBlocks: count,
        checkedBytes: count,
        corrupt: count,
        restored: count,
        unrestored: count,
        fullPasses: count,
        lastFullPass: z.number().optional(),
        periodMs: z.number()
      })
    })
  },
  'repair.run': {
    summary: 'Start a repair pass now',
    description: 'started is false when a pass is already running.',
    params: none,
    result: z.object({ started: z.boolean() })
  },
  'name.put': {
    summary: 'Point a name at a CID',
    description: 'Without a context a blind write: it replaces nothing, and a value already there stays beside it as a sibling. With the context of a read, it replaces what that read saw. size and mode come from content.stat when not given.',
    params: z.strictObject({
      path: namePath,
      cid: rootCid,
      context: context.optional(),
      size: count.optional(),
      mode: count.optional(),
      meta: z.record(z.string(), z.string()).optional().describe('string values kept with the name')
    }),
    result: writeOutcome
  },
  'name.get': {
    summary: 'Read a name',
    description: 'Every sibling (the default winner first), whether it exists and is in conflict, and the context for the next write; replicas asked and answered.',
    params: z.strictObject({ path: namePath }),
    result: nameInfo.extend({ replicas: z.object({ asked: count, answered: count }) })
  },
  'name.ls': {
    summary: 'List names',
    description: 'The names under a prefix (all without one), from this node and every connected storage peer, at most 10 000.',
    params: z.strictObject({ prefix: z.string().min(1).optional().describe('e.g. /photos: the names under /photos/') }),
    result: z.array(nameInfo)
  },
  'name.rm': {
    summary: 'Delete a name',
    description: 'Deletes what a read sees now, or what the context covers.',
    params: z.strictObject({ path: namePath, context: context.optional() }),
    result: writeOutcome
  },
  'name.conflicts': {
    summary: 'Names with more than one value',
    description: 'Each is resolved by a write whose context covers every sibling (name.resolve).',
    params: none,
    result: z.array(nameInfo)
  },
  'name.resolve': {
    summary: 'Make one value the only one',
    description: 'A write of cid whose context covers every sibling the read saw.',
    params: z.strictObject({ path: namePath, cid: rootCid, size: count.optional() }),
    result: writeOutcome
  },
  'token.rotate': {
    summary: 'A new RPC token',
    description: 'Writes a new token to <repo>/rpc.token, then refuses the old one (requests already admitted finish).',
    params: none,
    result: z.object({ file: z.string().describe('the token file') })
  },
  'name.subscribe': {
    summary: 'Watch names under a prefix',
    description: 'Answers a subscription id; then every change of a name under the prefix (a write here or on another node, new siblings and conflicts, deletes) comes as a notification with the name as name.ls shows it.',
    params: z.strictObject({ prefix: z.string().min(1).optional().describe('default /: every name') }),
    result: subscriptionId,
    notification: nameInfo,
    webSocketOnly: true
  },
  'name.unsubscribe': {
    summary: 'Stop a name subscription',
    description: 'false when this socket has no such subscription.',
    params: z.strictObject({ subscription: z.string().min(1) }),
    result: z.boolean(),
    webSocketOnly: true
  },
  'node.subscribe': {
    summary: 'Watch the node',
    description: 'Answers a subscription id; then storage peers joining and leaving, health changes, and repair passes starting and ending come as notifications.',
    params: none,
    result: subscriptionId,
    notification: nodeEvent,
    webSocketOnly: true
  },
  'node.unsubscribe': {
    summary: 'Stop a node subscription',
    description: 'false when this socket has no such subscription.',
    params: z.strictObject({ subscription: z.string().min(1) }),
    result: z.boolean(),
    webSocketOnly: true
  },
  'rpc.auth': {
    summary: 'Authenticate a WebSocket',
    description: 'The first message of a socket opened without an Authorization header; until it is answered nothing else is. A wrong token closes the socket (1008).',
    params: z.strictObject({ token: z.string().min(1).describe('the token in <repo>/rpc.token') }),
    result: z.object({ authenticated: z.literal(true) }),
    webSocketOnly: true
  },
  'rpc.discover': {
    summary: 'This API, as an OpenRPC document',
    description: 'OpenRPC 1.3: every method with its params\' and result\'s JSON Schema; the byte routes are in x-shoal-byte-routes.',
    params: none,
    result: z.looseObject({ openrpc: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), methods: z.array(z.looseObject({ name: z.string() })) })
  }
})

export type Methods = typeof METHODS
export type MethodName = keyof Methods
/** What a caller sends (defaults not applied). */
export type ParamsOf<M extends MethodName> = z.input<Methods[M]['params']>
/** What comes back, as JSON. */
export type ResultOf<M extends MethodName> = z.output<Methods[M]['result']>
export type SubscriptionMethod = { [M in MethodName]: Methods[M] extends { notification: z.ZodType } ? M : never }[MethodName]
export type NotificationOf<M extends SubscriptionMethod> = Methods[M] extends { notification: infer N extends z.ZodType } ? z.output<N> : never
/** The long methods, which report progress over a WebSocket, and their events. */
export type ProgressMethod = { [M in MethodName]: Methods[M] extends { progress: z.ZodType } ? M : never }[MethodName]
export type MethodProgressOf<M extends ProgressMethod> = Methods[M] extends { progress: infer P extends z.ZodType } ? z.output<P> : never

// ---- the byte routes ------------------------------------------------------

/** A query value: a whole number in [min, max] (the URL's text, read as a number). */
function queryInt (min: number, max: number): z.ZodType<number, string | undefined> {
  return z.coerce.number<string>().int().min(min).max(max) as unknown as z.ZodType<number, string | undefined>
}

/** A query value: true or 1, false or 0. */
const queryBool = z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).transform(v => v === 'true' || v === '1')

const replicationQuery = {
  replicas: queryInt(1, 64).optional().describe('replica set size (default: the node\'s k)'),
  quorum: queryInt(1, 64).optional().describe('confirmed copies each block needs, else the upload fails (default: the node\'s)')
}

const progressQuery = queryBool.optional().describe('answer NDJSON: progress events, then one result (or error) line')

/** An upload's progress events (`?progress=true`), Helia's ProgressEvent shape. */
export const progressEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('import:read'), detail: z.object({ bytes: count.describe('file bytes read and chunked') }) }),
  z.object({ type: z.literal('add:stored'), detail: z.object({ blocks: count, bytes: count }).describe('new blocks stored here') }),
  z.object({ type: z.literal('replicate:confirmed'), detail: z.object({ confirmed: count, wanted: count }).describe('copies confirmed by the replica sets, of those wanted so far') })
])
export type ProgressEventOf = z.output<typeof progressEvent>

export interface ByteRouteSpec {
  method: 'GET' | 'POST'
  /** OpenAPI's path template, e.g. /api/v1/cat/{cid} */
  path: string
  summary: string
  description: string
  pathParams?: Record<string, z.ZodType>
  /** a strict object: an unknown query parameter is a 400 */
  query: z.ZodObject
  /** what the request carries (POST) */
  body?: { contentTypes: string[], description: string }
  answer: { contentType: string, description: string, schema?: z.ZodType }
  /** with ?progress=true: the NDJSON lines before the result */
  progress?: z.ZodType
}

function routes<T extends Record<string, ByteRouteSpec>> (table: T): T {
  return table
}

export const BYTE_ROUTES = routes({
  add: {
    method: 'POST',
    path: '/api/v1/add',
    summary: 'Add a file, a symlink or a directory tree',
    description: 'A raw body is one file; a body of type application/symlink one symlink (the body is its target, at most 4096 bytes); multipart/form-data a tree, Kubo\'s parts (each part\'s filename the URL-encoded relative path; application/x-directory for a directory, application/symlink for a symlink). The root is pinned (unless pin=false) and every block pushed to its replica set; the answer comes once every block has its write quorum.',
    query: z.strictObject({
      'cid-version': queryInt(0, 1).optional().describe('0 or 1 (default 1)'),
      chunker: z.string().min(1).optional().describe('size-N (default size-262144), fastcdc, or fastcdc-MIN-AVG-MAX'),
      'raw-leaves': queryBool.optional().describe('raw leaf blocks (default: with CID version 1)'),
      pin: queryBool.optional().describe('pin the root (default true)'),
      ...replicationQuery,
      progress: progressQuery
    }),
    body: { contentTypes: ['application/octet-stream', 'application/symlink', 'multipart/form-data'], description: 'the file, the symlink\'s target, or the tree' },
    answer: { contentType: 'application/json', description: 'the root, its size and blocks, the replication; for a tree every entry', schema: addResult },
    progress: progressEvent
  },
  cat: {
    method: 'GET',
    path: '/api/v1/cat/{cid}',
    summary: 'A file\'s bytes',
    description: 'The bytes of a file (from this node or the network). A Range header (bytes=a-b, a-, -n) answers 206; offset and length do the same without one. X-Content-Size is the file\'s size.',
    pathParams: { cid },
    query: z.strictObject({
      offset: queryInt(0, Number.MAX_SAFE_INTEGER).optional().describe('first byte (default 0)'),
      length: queryInt(0, Number.MAX_SAFE_INTEGER).optional().describe('bytes wanted (default: to the end)')
    }),
    answer: { contentType: 'application/octet-stream', description: 'the bytes' }
  },
  get: {
    method: 'GET',
    path: '/api/v1/get/{cid}',
    summary: 'A tree (or a file) as a tar archive',
    description: 'What a CID, or CID/path below it, names, as the tar archive `ipfs get -a` writes: directories, files (with their UnixFS mode and mtime, else 0644/0755 and the time of the request) and symlinks, the top entry named after the last path segment or the CID; streamed.',
    pathParams: { cid },
    query: z.strictObject({
      format: z.enum(['tar']).optional().describe('tar (the default and only one)')
    }),
    answer: { contentType: 'application/x-tar', description: 'the archive' }
  },
  'dag.import': {
    method: 'POST',
    path: '/api/v1/dag/import',
    summary: 'Import a CAR',
    description: 'Every block is verified before any is stored: a CAR with a bad block, cut short or garbled is a 400 and nothing of it is stored. Its roots are pinned unless pin-roots=false.',
    query: z.strictObject({
      'pin-roots': queryBool.optional().describe('pin every root, recursively (default true)'),
      ...replicationQuery,
      progress: progressQuery
    }),
    body: { contentTypes: ['application/vnd.ipld.car'], description: 'a CAR, v1 or v2' },
    answer: {
      contentType: 'application/json',
      description: 'the roots, whether they were pinned, the blocks and bytes, the replication',
      schema: z.object({ roots: z.array(z.string()), pinned: z.boolean(), blocks: count, bytes: count, replication: replicationReport })
    },
    progress: progressEvent
  },
  'dag.export': {
    method: 'GET',
    path: '/api/v1/dag/export/{cid}',
    summary: 'A DAG as a CAR',
    description: 'CAR v1, depth first, each block once; a path below the CID (/api/v1/dag/export/CID/a/b) exports what it leads to, with the blocks on the way, as the Trustless Gateway does.',
    pathParams: { cid },
    query: z.strictObject({
      'dag-scope': z.enum(['all', 'entity', 'block']).optional().describe('all (default), entity or block, as the Trustless Gateway'),
      'entity-bytes': z.string().min(1).optional().describe('FROM:TO (TO may be *), as the Trustless Gateway')
    }),
    answer: { contentType: 'application/vnd.ipld.car', description: 'the CAR' }
  },
  'block.get': {
    method: 'GET',
    path: '/api/v1/block/get/{cid}',
    summary: 'One block\'s bytes',
    description: 'The block as stored (from this node or the network), verified against its CID.',
    pathParams: { cid: rootCid },
    query: z.strictObject({}),
    answer: { contentType: 'application/vnd.ipld.raw', description: 'the block' }
  },
  'block.put': {
    method: 'POST',
    path: '/api/v1/block/put',
    summary: 'Store one block',
    description: 'At most 2 MiB; a dag-pb block must decode as dag-pb. Pushed to its replica set as an add is.',
    query: z.strictObject({
      'cid-codec': z.enum(['raw', 'dag-pb']).optional().describe('the CID\'s codec (default raw)'),
      pin: queryBool.optional().describe('pin the block (default false)'),
      ...replicationQuery,
      progress: progressQuery
    }),
    body: { contentTypes: ['application/octet-stream'], description: 'the block' },
    answer: { contentType: 'application/json', description: 'its CID and size, the replication', schema: z.object({ cid: z.string(), size: count, replication: replicationReport }) }
  },
  metrics: {
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics',
    description: 'Blocks and bytes stored, pinned and held; blocks by replica count; traffic per protocol; requests per RPC method and route; peers; GC and repair; the runtime\'s own.',
    query: z.strictObject({}),
    answer: { contentType: 'text/plain; version=0.0.4', description: 'Prometheus\'s text format' }
  }
})

export type ByteRoutes = typeof BYTE_ROUTES
export type ByteRouteName = keyof ByteRoutes
/** A route's query as a caller gives it (strings, as in the URL). */
export type QueryOf<R extends ByteRouteName> = z.input<ByteRoutes[R]['query']>
/** A route's query as the route reads it. */
export type ParsedQueryOf<R extends ByteRouteName> = z.output<ByteRoutes[R]['query']>

// ---- messages -------------------------------------------------------------

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  record: 'an object'
}

/** Zod's issues in shoal's words (schema-level messages win over these). */
function issueWords (issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required'
      return `must be ${TYPE_WORDS[issue.expected] ?? issue.expected}`
    case 'too_small':
      if (issue.origin === 'string') return Number(issue.minimum) <= 1 ? 'must not be empty' : `must have at least ${issue.minimum} characters`
      return `must be ${issue.inclusive === false ? '>' : '>='} ${issue.minimum}`
    case 'too_big':
      if (issue.origin === 'string') return `must have at most ${issue.maximum} characters`
      return `must be ${issue.inclusive === false ? '<' : '<='} ${issue.maximum}`
    case 'invalid_value':
      return `must be one of ${issue.values.map(v => String(v)).join(', ')}`
    default:
      return undefined
  }
}

/** The first problem of a failed parse, in one line: `"cid" must be a string`, `unknown parameter "x"`. */
function firstProblem (error: z.ZodError, what: string, known: string[]): string {
  const issue = error.issues[0]
  if (issue.code === 'unrecognized_keys') {
    return `unknown ${what} "${issue.keys[0]}" (${known.length === 0 ? 'it takes none' : `expected ${known.join(', ')}`})`
  }
  const name = issue.path.length === 0 ? what : issue.path.map(String).join('.')
  return `"${name}" ${issue.message}`
}

/**
 * JSON-RPC params (by name or by position) checked against a method's
 * schema: the parsed params, or an Error whose message names the field.
 */
export function parseParams<M extends MethodName> (method: M, params: unknown): { ok: true, value: z.output<Methods[M]['params']> } | { ok: false, message: string } {
  const schema = METHODS[method].params
  const names = Object.keys(schema.shape)
  let input: unknown = params ?? {}
  if (Array.isArray(input)) {
    if (input.length > names.length) return { ok: false, message: `expected at most ${names.length} parameters by position${names.length === 0 ? '' : ` (${names.join(', ')})`}` }
    input = Object.fromEntries(input.map((v, i) => [names[i], v]).filter(([, v]) => v !== undefined))
  }
  const parsed = schema.safeParse(input, { error: issueWords })
  if (parsed.success) return { ok: true, value: parsed.data as z.output<Methods[M]['params']> }
  return { ok: false, message: firstProblem(parsed.error, 'parameter', names) }
}

/**
 * A byte route's query checked against its schema (each parameter's first
 * value): the parsed query, or a message naming the parameter.
 */
export function parseQuery<R extends ByteRouteName> (route: R, query: URLSearchParams): { ok: true, value: z.output<ByteRoutes[R]['query']> } | { ok: false, message: string } {
  const schema = BYTE_ROUTES[route].query
  const input = Object.fromEntries([...new Set(query.keys())].map(k => [k, query.get(k)]))
  const parsed = schema.safeParse(input, { error: issueWords })
  if (parsed.success) return { ok: true, value: parsed.data as z.output<ByteRoutes[R]['query']> }
  const issue = parsed.error.issues[0]
  const problem = firstProblem(parsed.error, 'query parameter', Object.keys(schema.shape))
  if (issue.code === 'unrecognized_keys') return { ok: false, message: `Invalid request: ${problem}` }
  return { ok: false, message: `Invalid ${problem.replace(/^("[^"]+")/, `$1 "${String(input[String(issue.path[0])])}":`)}` }
}
