/**
 * What the name service answers, as plain JSON: a name's siblings (the
 * default winner first), whether it exists and is in conflict, and the
 * context token to send back with the next write.
 */
import { liveSiblings, resolveView } from './merge.ts'
import { isTombstone } from './record.ts'
import type { NameRecord, Sibling } from './record.ts'

export interface SiblingInfo {
  /** the write's dot, "actor:counter" */
  version: string
  deleted?: true
  cid?: string
  size?: number
  mode?: number
  /** ms since the epoch, by the writer's clock (display only) */
  mtime: number
  owner: string
  meta?: Record<string, string>
}

export interface NameInfo {
  path: string
  /** at least one live value */
  exists: boolean
  /** more than one live value: resolve it with a write whose context covers them */
  conflict: boolean
  /** the default winner (latest mtime, then owner), for display; null when none */
  value: SiblingInfo | null
  /** every sibling: live values (the winner first), then tombstones */
  siblings: SiblingInfo[]
  /** send this back with the next write to replace what was read */
  context: string
}

export interface GetResult extends NameInfo {
  replicas: { asked: number, answered: number }
}

export interface WriteOutcome extends NameInfo {
  written: SiblingInfo
  /** siblings this write replaced */
  replaced: number
  replicas: { confirmed: number, quorum: number, replicaSet: number }
  /** set when the name has more siblings than merge.ts's SIBLING_WARN */
  warning?: string
}

export interface PutInput {
  cid: string
  size?: number
  mode?: number
  meta?: Record<string, string>
}

export function siblingInfo (s: Sibling): SiblingInfo {
  const v = s.value
  const out: SiblingInfo = { version: `${s.dot.actor}:${s.dot.counter}`, mtime: v.mtime, owner: v.owner }
  if (isTombstone(v)) {
    out.deleted = true
    return out
  }
  out.cid = v.cid
  out.size = v.size
  if (v.mode !== undefined) out.mode = v.mode
  if (v.meta !== undefined) out.meta = { ...v.meta }
  return out
}

/** The JSON view of a record (absent: no record). */
export function nameInfo (record: NameRecord | undefined, key: string): NameInfo {
  const view = resolveView(record, key)
  const live = liveSiblings(record)
  const dead = record == null ? [] : record.siblings.filter(s => isTombstone(s.value))
  const siblings = [...live, ...dead].map(siblingInfo)
  return { path: key, exists: view.exists, conflict: view.conflict, value: live.length > 0 ? siblings[0] : null, siblings, context: view.context }
}

