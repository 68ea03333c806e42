/**
 * Handlers bound to the method table (api.ts): each call's params are checked
 * against the method's schema before its handler runs (-32602 naming the
 * field when they do not fit), the handler gets them parsed and typed, and
 * what it returns is typed against the result's schema.
 */
import type { z } from 'zod'
import { InvalidParamsError } from '../errors.ts'
import { parseParams } from './api.ts'
import type { MethodName, Methods } from './api.ts'
import type { MethodTable, RpcContext } from './jsonrpc.ts'

/** What a method's handler is: its parsed params in, its result (as the schema takes it) out. */
export type Handler<M extends MethodName> = (params: z.output<Methods[M]['params']>, context: RpcContext) => z.input<Methods[M]['result']> | Promise<z.input<Methods[M]['result']>>

export type Handlers<K extends MethodName> = { [M in K]: Handler<M> }

/** The handlers as a MethodTable, each call's params checked against the table's schema first. */
export function implement<K extends MethodName> (handlers: Handlers<K>): MethodTable {
  const table: MethodTable = {}
  for (const method of Object.keys(handlers) as K[]) {
    const handler = handlers[method] as Handler<K>
    table[method] = async (params, context) => {
      const parsed = parseParams(method, params)
      if (!parsed.ok) throw new InvalidParamsError(parsed.message, { method })
      return await handler(parsed.value, context)
    }
  }
  return table
}

