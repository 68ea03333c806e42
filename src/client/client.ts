/**
 * ShoalClient: a TypeScript app's (and the CLI's) client of a shoal daemon,
 * typed from the method table (src/rpc/api.ts): `call('content.stat', {cid})`
 * knows its params and its result. Byte routes are streams (add and imports
 * with progress events, cat and exports as the answer's readable stream);
 * subscriptions go over one WebSocket, opened on the first subscribe.
 *
 *   const client = await ShoalClient.fromRepo()          // ~/.shoal, or $SHOAL_HOME
 *   const { cid } = await client.add(fs.createReadStream('cat.jpg'))
 *   await client.call('name.put', { path: '/photos/cat.jpg', cid })
 *   const sub = await client.subscribe('name.subscribe', { prefix: '/photos' }, change => { ... })
 */
import type http from 'node:http'
import { Readable } from 'node:stream'
import type { z } from 'zod'
import { resolveRepoDir } from '../platform/repo.ts'
import type { ByteRouteName, ByteRoutes, MethodName, MethodProgressOf, NotificationOf, ParamsOf, ProgressEventOf, ProgressMethod, QueryOf, ResultOf, SubscriptionMethod } from '../rpc/api.ts'
import { locateDaemon } from './locate.ts'
import type { DaemonEndpoint } from './locate.ts'
import { HttpTransport } from './transport.ts'
import type { CallOptions } from './transport.ts'
import { SocketTransport } from './websocket.ts'

export type { CallOptions } from './transport.ts'

/** A method's arguments: params may be left out when none is required. */
export type CallArgs<M extends MethodName> = Record<string, never> extends ParamsOf<M>
  ? [params?: ParamsOf<M>, options?: CallOptions]
  : [params: ParamsOf<M>, options?: CallOptions]

/** A route's query as the client takes it: numbers and booleans as themselves. */
export type QueryInput<R extends ByteRouteName> = { [K in keyof QueryOf<R>]?: string | number | boolean }

type UploadRoute = 'add' | 'dag.import' | 'block.put'
type DownloadRoute = 'cat' | 'get' | 'dag.export' | 'block.get'
/** What an upload route answers (its JSON). */
export type UploadResult<R extends UploadRoute> = ByteRoutes[R]['answer'] extends { schema: infer S extends z.ZodType } ? z.output<S> : never

export type Body = Uint8Array | AsyncIterable<Uint8Array> | NodeJS.ReadableStream

export interface UploadOptions<R extends UploadRoute> {
  query?: QueryInput<R>
  /** default application/octet-stream (add: application/symlink for a symlink, multipart/form-data for a tree) */
  contentType?: string
  /** progress events as the daemon reports them (asks for ?progress=true) */
  onProgress?(event: ProgressEventOf): void
  signal?: AbortSignal
}

export interface DownloadOptions<R extends DownloadRoute> {
  query?: QueryInput<R>
  headers?: Record<string, string>
  signal?: AbortSignal
}

/** A byte route's answer (2xx): its headers, and its bytes as a readable stream. */
export type Download = http.IncomingMessage

export interface Subscription {
  /** the id the daemon gave it */
  readonly id: string
  /** stops it (false when the daemon no longer had it) */
  unsubscribe(): Promise<boolean>
}

export class ShoalClient {
  readonly endpoint: DaemonEndpoint
  private readonly http: HttpTransport
  private socket?: Promise<SocketTransport>

  constructor (endpoint: DaemonEndpoint) {
    this.endpoint = endpoint
    this.http = new HttpTransport(endpoint)
  }

  /** The client of the daemon of a repo: `repo`, else $SHOAL_HOME, else ~/.shoal (its api.json and rpc.token). */
  static async fromRepo (repo?: string, options: { env?: Record<string, string | undefined> } = {}): Promise<ShoalClient> {
    return new ShoalClient(await locateDaemon(resolveRepoDir({ repo, env: options.env })))
  }

  /** A JSON-RPC call over HTTP, typed by the method table. */
  async call<M extends MethodName> (method: M, ...[params, options]: CallArgs<M>): Promise<ResultOf<M>> {
    return await this.http.call(method, params, options) as ResultOf<M>
  }

  /**
   * A long call (pin.add, repo.gc) over the WebSocket: its progress events go
   * to `onProgress` as the daemon sends them, then the answer.
   */
  async callWithProgress<M extends ProgressMethod> (method: M, params: ParamsOf<M>, onProgress: (event: MethodProgressOf<M>) => void): Promise<ResultOf<M>> {
    return await (await this.webSocket()).call(method, params, onProgress as (event: unknown) => void) as ResultOf<M>
  }

  /** Uploads `body` to a byte route and returns its JSON answer; with onProgress, the progress events on the way. */
  async upload<R extends UploadRoute> (route: R, path: string, body: Body, options: UploadOptions<R> = {}): Promise<UploadResult<R>> {
    const query = queryString({ ...options.query, ...(options.onProgress == null ? {} : { progress: true }) })
    const stream = body instanceof Uint8Array ? body : isNodeStream(body) ? body : Readable.from(body)
    const res = await this.http.request('POST', `${path}${query}`, { body: stream, headers: { 'Content-Type': options.contentType ?? 'application/octet-stream' }, signal: options.signal })
    if (options.onProgress == null) return JSON.parse(await this.http.readAnswer(res)) as UploadResult<R>
    return await this.http.readProgress(res, options.onProgress) as UploadResult<R>
  }

  /** A byte route's answer as a stream (2xx; anything else is thrown in the daemon's words). */
  async download<R extends DownloadRoute> (path: string, options: DownloadOptions<R> = {}): Promise<Download> {
    const res = await this.http.request('GET', `${path}${queryString(options.query ?? {})}`, { headers: options.headers, signal: options.signal })
    if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) await this.http.readAnswer(res)
    return res
  }

  /** `POST /api/v1/add`: a file (or, by contentType, a symlink or a multipart tree). */
  async add (body: Body, options: UploadOptions<'add'> = {}): Promise<UploadResult<'add'>> {
    return await this.upload('add', '/api/v1/add', body, options)
  }

  /** `GET /api/v1/cat/CID[/PATH]`: a file's bytes (offset and length in the query, or a Range header). */
  async cat (ref: string, options: DownloadOptions<'cat'> = {}): Promise<Download> {
    return await this.download(`/api/v1/cat/${refUrl(ref)}`, options)
  }

  /** `GET /api/v1/get/CID[/PATH]`: a tree (or a file) as a tar archive, as `ipfs get -a` writes it. */
  async tar (ref: string, options: DownloadOptions<'get'> = {}): Promise<Download> {
    return await this.download(`/api/v1/get/${refUrl(ref)}`, { ...options, query: { format: 'tar', ...options.query } })
  }

  /** `POST /api/v1/dag/import`: a CAR. */
  async dagImport (car: Body, options: UploadOptions<'dag.import'> = {}): Promise<UploadResult<'dag.import'>> {
    return await this.upload('dag.import', '/api/v1/dag/import', car, { contentType: 'application/vnd.ipld.car', ...options })
  }

  /** `GET /api/v1/dag/export/CID`: the DAG as a CAR. */
  async dagExport (ref: string, options: DownloadOptions<'dag.export'> = {}): Promise<Download> {
    return await this.download(`/api/v1/dag/export/${refUrl(ref)}`, options)
  }

  /** `POST /api/v1/block/put`: one block. */
  async blockPut (block: Body, options: UploadOptions<'block.put'> = {}): Promise<UploadResult<'block.put'>> {
    return await this.upload('block.put', '/api/v1/block/put', block, options)
  }

  /** `GET /api/v1/block/get/CID`: one block's bytes. */
  async blockGet (cid: string, options: DownloadOptions<'block.get'> = {}): Promise<Download> {
    return await this.download(`/api/v1/block/get/${encodeURIComponent(cid)}`, options)
  }

  /**
   * Subscribes over the client's WebSocket (opened now if it is not yet):
   * each notification's result goes to `listener` until `unsubscribe()` or
   * `close()`.
   */
  async subscribe<M extends SubscriptionMethod> (method: M, params: ParamsOf<M>, listener: (event: NotificationOf<M>) => void): Promise<Subscription> {
    const socket = await this.webSocket()
    const id = await socket.call(method, params) as string
    socket.listen(id, listener as (result: unknown) => void)
    const kind = method.slice(0, method.indexOf('.'))
    return {
      id,
      unsubscribe: async () => {
        socket.unlisten(id)
        return await socket.call(`${kind}.unsubscribe`, { subscription: id }) as boolean
      }
    }
  }

  /** Resolves when the client's WebSocket closes (the daemon stopped, or close()); at once when there is none. */
  async socketClosed (): Promise<{ code: number, reason: string } | undefined> {
    return this.socket == null ? undefined : await (await this.socket).closed
  }

  /** Closes the WebSocket, if one is open (its subscriptions end). */
  async close (): Promise<void> {
    const socket = this.socket
    this.socket = undefined
    if (socket != null) await (await socket.catch(() => undefined))?.close()
  }

  private async webSocket (): Promise<SocketTransport> {
    this.socket ??= SocketTransport.connect(this.endpoint)
    try {
      return await this.socket
    } catch (err) {
      this.socket = undefined
      throw err
    }
  }
}

function queryString (query: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value))
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}

function isNodeStream (body: Body): body is NodeJS.ReadableStream {
  return typeof (body as NodeJS.ReadableStream).pipe === 'function'
}

/** `CID`, `CID/dir/file` or `/ipfs/CID/dir/file` as a URL path: each segment encoded (the daemon checks them). */
function refUrl (ref: string): string {
  return ref.replace(/^\/ipfs\//, '').replace(/\/$/, '').split('/').map(encodeURIComponent).join('/')
}
