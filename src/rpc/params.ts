/**
 * Reading JSON-RPC params, by name (an object) or by position (an array),
 * with InvalidParamsError (-32602) for anything of the wrong shape.
 */
import { InvalidParamsError } from '../errors.ts'
import type { Params } from './jsonrpc.ts'

export class ParamReader {
  private readonly params: Params
  private readonly names: string[]

  /** `names` is the positional order. */
  constructor (params: Params, names: string[]) {
    this.params = params
    this.names = names
    if (Array.isArray(params) && params.length > names.length) throw new InvalidParamsError(`expected at most ${names.length} parameters (${names.join(', ')})`)
    if (params != null && !Array.isArray(params)) {
      const unknown = Object.keys(params).filter(k => !names.includes(k))
      if (unknown.length > 0) throw new InvalidParamsError(`unknown parameter "${unknown[0]}"; expected ${names.join(', ') || 'none'}`)
    }
  }

  private raw (name: string): unknown {
    if (this.params == null) return undefined
    return Array.isArray(this.params) ? this.params[this.names.indexOf(name)] : this.params[name]
  }

  string (name: string): string {
    const v = this.raw(name)
    if (typeof v !== 'string' || v === '') throw new InvalidParamsError(`"${name}" must be a non-empty string`)
    return v
  }

  optionalString (name: string): string | undefined {
    return this.raw(name) === undefined ? undefined : this.string(name)
  }

  /** An integer 0 <= n < 2^53, if given. */
  optionalCount (name: string): number | undefined {
    const v = this.raw(name)
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) throw new InvalidParamsError(`"${name}" must be a whole number >= 0`)
    return v
  }

  /** An object of string values, if given. */
  optionalStringMap (name: string): Record<string, string> | undefined {
    const v = this.raw(name)
    if (v === undefined) return undefined
    if (typeof v !== 'object' || v == null || Array.isArray(v) || Object.values(v).some(x => typeof x !== 'string')) {
      throw new InvalidParamsError(`"${name}" must be an object of string values`)
    }
    return v as Record<string, string>
  }

  optionalBoolean (name: string): boolean | undefined {
    const v = this.raw(name)
    if (v !== undefined && typeof v !== 'boolean') throw new InvalidParamsError(`"${name}" must be true or false`)
    return v
  }
}
