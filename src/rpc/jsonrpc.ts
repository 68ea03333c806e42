/**
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification), transport-free:
 * takes a request body as text and returns the response body, or undefined
 * when nothing must be sent back (a notification, or a batch of them).
 */
import { InvalidParamsError, ShoalError } from '../errors.ts'

export const PARSE_ERROR = -32700
export const INVALID_REQUEST = -32600
export const METHOD_NOT_FOUND = -32601
export const INVALID_PARAMS = -32602
export const INTERNAL_ERROR = -32603
/** shoal's own errors (a ShoalError with a stable `code` in `data.code`) */
export const SERVER_ERROR = -32000

export type JsonRpcId = string | number | null
export type Params = unknown[] | Record<string, unknown> | undefined

export interface RpcContext {
  signal?: AbortSignal
  /** the connection's subscriptions, when it can carry notifications (WebSocket); absent over HTTP */
  subscriptions?: SubscriptionHost
  /** a long call's progress (`{type, detail}`), sent to its caller as it comes when the connection can carry notifications (WebSocket); absent over HTTP */
  onProgress?(event: { type: string, detail: unknown }): void
}

/**
 * Where subscribe methods keep their subscriptions: one per connection that
 * can carry notifications (rpc/subscriptions.ts). `subscribe` returns the
 * subscription's id; `start` is called with the function that sends one
 * notification and returns the function that stops the source.
 */
export interface SubscriptionHost {
  subscribe(kind: string, start: (send: (result: unknown) => void) => () => void): string
  /** false when this connection has no subscription `id` of this kind */
  unsubscribe(kind: string, id: string): boolean
}

export type MethodHandler = (params: Params, context: RpcContext) => unknown

export type MethodTable = Record<string, MethodHandler>

interface ErrorObject {
  code: number
  message: string
  data?: unknown
}

interface Response {
  jsonrpc: '2.0'
  id: JsonRpcId
  result?: unknown
  error?: ErrorObject
}

export interface DispatchOptions extends Omit<RpcContext, 'onProgress'> {
  /** where the progress of the call with this id goes (WebSocket) */
  progress?(id: JsonRpcId): RpcContext['onProgress']
  /** told about errors that are not shoal's own (bugs), which clients see only as "Internal error" */
  onInternalError?(method: string, err: unknown): void
}

export async function handleJsonRpc (body: string, methods: MethodTable, options: DispatchOptions = {}): Promise<string | undefined> {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return JSON.stringify(errorResponse(null, PARSE_ERROR, 'Parse error'))
  }
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) return JSON.stringify(errorResponse(null, INVALID_REQUEST, 'Invalid Request: empty batch'))
    const responses = (await Promise.all(parsed.map(async r => await handleOne(r, methods, options))))
      .filter((r): r is Response => r != null)
    return responses.length === 0 ? undefined : JSON.stringify(responses)
  }
  const response = await handleOne(parsed, methods, options)
  return response == null ? undefined : JSON.stringify(response)
}

async function handleOne (request: unknown, methods: MethodTable, options: DispatchOptions): Promise<Response | undefined> {
  const invalid = (why: string): Response => errorResponse(null, INVALID_REQUEST, `Invalid Request: ${why}`)
  if (typeof request !== 'object' || request == null || Array.isArray(request)) return invalid('expected an object')
  const req = request as Record<string, unknown>
  if (req.jsonrpc !== '2.0') return invalid('"jsonrpc" must be exactly "2.0"')
  if (typeof req.method !== 'string') return invalid('"method" must be a string')
  const isNotification = !('id' in req)
  const id = req.id
  if (!isNotification && id !== null && typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
    return invalid('"id" must be a string, a number or null')
  }
  if (req.params !== undefined && (typeof req.params !== 'object' || req.params === null)) {
    return invalid('"params" must be an array or an object')
  }
  const respond = (r: Response): Response | undefined => isNotification ? undefined : r
  const rid = (id ?? null) as JsonRpcId

  const handler = Object.hasOwn(methods, req.method) ? methods[req.method] : undefined
  if (handler == null) return respond(errorResponse(rid, METHOD_NOT_FOUND, `Method not found: ${req.method}`))
  try {
    const onProgress = isNotification ? undefined : options.progress?.(rid)
    const result = await handler(req.params as Params, { signal: options.signal, subscriptions: options.subscriptions, ...(onProgress == null ? {} : { onProgress }) })
    return respond({ jsonrpc: '2.0', id: rid, result: result ?? null })
  } catch (err) {
    if (err instanceof InvalidParamsError) return respond(errorResponse(rid, INVALID_PARAMS, `Invalid params${err.method == null ? '' : ` for ${err.method}`}: ${err.message}`))
    if (err instanceof ShoalError) {
      const details = (err as { details?: unknown }).details
      return respond(errorResponse(rid, SERVER_ERROR, err.message, { code: err.code, name: err.name, ...(details === undefined ? {} : { details }) }))
    }
    options.onInternalError?.(req.method, err)
    return respond(errorResponse(rid, INTERNAL_ERROR, 'Internal error'))
  }
}

function errorResponse (id: JsonRpcId, code: number, message: string, data?: unknown): Response {
  const error: ErrorObject = { code, message }
  if (data !== undefined) error.data = data
  return { jsonrpc: '2.0', id, error }
}

/** For methods that take no parameters: absent, [] or {} only. */
export function expectNoParams (params: Params): void {
  if (params === undefined) return
  if (Array.isArray(params) ? params.length > 0 : Object.keys(params).length > 0) {
    throw new InvalidParamsError('this method takes no parameters')
  }
}
