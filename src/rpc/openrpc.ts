/**
 * The OpenRPC 1.3 document of the RPC port, built from the method table
 * (api.ts): what `rpc.discover` answers and what docs/rpc.md is generated
 * from. Each method's params are content descriptors (name, required, JSON
 * Schema from `z.toJSONSchema`), its result one. shoal's own extensions:
 *
 * - `x-shoal-websocket-only` (a method): it needs a WebSocket.
 * - `x-shoal-notification` (a subscribe method): the `result` of each
 *   notification `{"method":"subscription","params":{subscription,result}}`.
 * - `x-shoal-progress` (a long method): over a WebSocket, the `event` of each
 *   notification `{"method":"progress","params":{request,event}}` sent before
 *   the answer (`request` is the call's id).
 * - `x-shoal-byte-routes` (the document): the plain HTTP routes beside /rpc,
 *   each `{name, method, path, summary, description, parameters, requestBody?,
 *   response, progress?}`; `parameters` as OpenAPI 3.1's (`in` path or query,
 *   `required`, `schema`); `requestBody` the content types it takes;
 *   `response` the answer's content type and, for JSON, its schema;
 *   `progress` the NDJSON lines `?progress=true` streams before the result.
 */
import { z } from 'zod'
import { VERSION } from '../version.ts'
import { BYTE_ROUTES, METHODS } from './api.ts'
import type { ByteRouteSpec, MethodSpec } from './api.ts'

export const OPENRPC_VERSION = '1.3.2'

type JsonSchema = Record<string, unknown>

// (type literals, not interfaces: the document must fit rpc.discover's result schema, an object of any keys)

type ContentDescriptor = {
  name: string
  required?: boolean
  description?: string
  schema: JsonSchema
}

export type OpenRpcMethod = {
  name: string
  summary: string
  description: string
  paramStructure: 'either'
  params: ContentDescriptor[]
  result: ContentDescriptor
  'x-shoal-websocket-only'?: true
  'x-shoal-notification'?: ContentDescriptor
  'x-shoal-progress'?: ContentDescriptor
}

export type ByteRouteDoc = {
  name: string
  method: string
  path: string
  summary: string
  description: string
  parameters: Array<{ name: string, in: 'path' | 'query', required: boolean, description?: string, schema: JsonSchema }>
  requestBody?: { contentTypes: string[], description: string }
  response: { contentType: string, description: string, schema?: JsonSchema }
  progress?: { contentType: 'application/x-ndjson', description: string, schema: JsonSchema }
}

export type OpenRpcDocument = {
  openrpc: string
  info: { title: string, version: string, description: string }
  servers: Array<{ name: string, url: string }>
  methods: OpenRpcMethod[]
  'x-shoal-byte-routes': ByteRouteDoc[]
}

/** A schema's JSON Schema, without the `$schema` line (it sits inside the document). */
function jsonSchema (schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io }) as JsonSchema
  return rest
}

/** An object schema's properties as descriptors, in the order of its keys. */
function descriptors (schema: z.ZodObject, io: 'input' | 'output'): Array<ContentDescriptor & { required: boolean }> {
  const whole = jsonSchema(schema, io) as { properties?: Record<string, JsonSchema>, required?: string[] }
  return Object.keys(schema.shape).map(name => {
    const property = whole.properties?.[name] ?? {}
    const description = typeof property.description === 'string' ? property.description : undefined
    return { name, required: whole.required?.includes(name) ?? false, ...(description == null ? {} : { description }), schema: property }
  })
}

function methodDoc (name: string, spec: MethodSpec): OpenRpcMethod {
  return {
    name,
    summary: spec.summary,
    description: spec.description,
    paramStructure: 'either',
    params: descriptors(spec.params, 'input'),
    result: { name: `${name} result`, schema: jsonSchema(spec.result, 'output') },
    ...(spec.webSocketOnly === true ? { 'x-shoal-websocket-only': true as const } : {}),
    ...(spec.notification == null ? {} : { 'x-shoal-notification': { name: `${name} notification`, schema: jsonSchema(spec.notification, 'output') } }),
    ...(spec.progress == null ? {} : { 'x-shoal-progress': { name: `${name} progress`, schema: jsonSchema(spec.progress, 'output') } })
  }
}

function routeDoc (name: string, spec: ByteRouteSpec): ByteRouteDoc {
  const pathParams = Object.entries(spec.pathParams ?? {}).map(([param, schema]) => {
    const s = jsonSchema(schema, 'input')
    return { name: param, in: 'path' as const, required: true, ...(typeof s.description === 'string' ? { description: s.description } : {}), schema: s }
  })
  const query = descriptors(spec.query, 'input').map(d => ({ ...d, in: 'query' as const }))
  return {
    name,
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    description: spec.description,
    parameters: [...pathParams, ...query].map(({ name, in: where, required, description, schema }) => ({ name, in: where, required, ...(description == null ? {} : { description }), schema })),
    ...(spec.body == null ? {} : { requestBody: spec.body }),
    response: { contentType: spec.answer.contentType, description: spec.answer.description, ...(spec.answer.schema == null ? {} : { schema: jsonSchema(spec.answer.schema, 'output') }) },
    ...(spec.progress == null
      ? {}
      : { progress: { contentType: 'application/x-ndjson' as const, description: 'with ?progress=true, before the last line ({"type":"result","detail":ANSWER} or {"type":"error","detail":{message,code}})', schema: jsonSchema(spec.progress, 'output') } })
  }
}

/** The whole document (the same on every call). */
export function openRpcDocument (): OpenRpcDocument {
  return {
    openrpc: OPENRPC_VERSION,
    info: {
      title: 'shoal',
      version: VERSION,
      description: 'JSON-RPC 2.0 of a shoal daemon: HTTP POST /rpc and WebSocket /rpc (with subscriptions), behind the bearer token in <repo>/rpc.token; byte routes beside it (x-shoal-byte-routes).'
    },
    servers: [{ name: 'default', url: 'http://127.0.0.1:4711/rpc' }],
    methods: Object.entries(METHODS).map(([name, spec]) => methodDoc(name, spec)),
    'x-shoal-byte-routes': Object.entries(BYTE_ROUTES).map(([name, spec]) => routeDoc(name, spec))
  }
}
