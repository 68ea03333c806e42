import { NameNotFoundError } from '../../errors.ts'
import type { NameInfo, SiblingInfo, WriteOutcome } from '../../names/service.ts'
import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command, CommandContext } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { formatTable, printJson } from '../io.ts'
import { formatBytes } from '../progress.ts'

const SUBCOMMANDS = 'put, get, ls, rm, conflicts or resolve'

export const nameCommand: Command = {
  name: 'name',
  summary: 'Mutable names: paths that point at files, replicated and reconciled with version vectors.',
  usage: 'name put PATH CID [--context C] | get PATH | ls [PREFIX] | rm PATH [--context C] | conflicts | resolve PATH CID  [--json]',
  description: [
    'A name (such as /photos/cat.jpg) points at a CID, with its size, owner and time, and lives on the',
    'k peers nearest to it. Writes made without seeing each other are all kept, as siblings:',
    '  name put PATH CID          a blind write: it replaces nothing, a value already there stays beside it',
    '  name put PATH CID --context C',
    '                             replaces the values that the read which gave C saw (C: from name get --json)',
    '  name get PATH              the value, and every sibling when there are several',
    '  name ls [PREFIX]           names, with size, owner and time (the names under PREFIX/)',
    '  name rm PATH               deletes what a read sees now (or what --context covers)',
    '  name conflicts             names with more than one value',
    '  name resolve PATH CID      makes CID the only value (a write whose context covers every sibling)',
    'When there are siblings, the one with the latest time (then the highest owner id) is shown first;',
    'it is only a default for display: nothing is dropped until it is resolved.'
  ].join('\n'),
  options: {
    repo: repoOption,
    json: jsonOption,
    context: { type: 'string', value: 'C', description: 'put, rm: the context token a read gave' },
    size: { type: 'string', value: 'BYTES', description: 'put: the file\'s size (default: looked up from the CID)' }
  },
  async run (ctx) {
    const [sub, ...args] = ctx.positionals
    const want = (n: number, what: string): string[] => {
      if (args.length !== n) throw new UsageError(`name ${sub} takes ${what}`)
      return args
    }
    const onlyFor = (option: string, subs: string[]): void => {
      if (ctx.values[option] != null && !subs.includes(sub)) throw new UsageError(`--${option} does not apply to name ${sub}`)
    }
    if (sub == null) throw new UsageError(`say ${SUBCOMMANDS}`)
    if (!['put', 'get', 'ls', 'rm', 'conflicts', 'resolve'].includes(sub)) throw new UsageError(`unknown name command "${sub}": say ${SUBCOMMANDS}`)
    onlyFor('context', ['put', 'rm'])
    onlyFor('size', ['put'])
    const context = ctx.values.context as string | undefined
    switch (sub) {
      case 'put': {
        const [path, cid] = want(2, 'a PATH and a CID')
        const size = parseSize(ctx.values.size as string | undefined)
        return printWrite(ctx, await (await daemonClient(ctx)).call('name.put', { path, cid, context, size }), 'named')
      }
      case 'get': {
        const [path] = want(1, 'a PATH')
        const view = await (await daemonClient(ctx)).call('name.get', { path })
        if (ctx.values.json === true) {
          printJson(ctx.io, view)
          return view.exists ? 0 : 1
        }
        if (!view.exists) throw new NameNotFoundError(view.path, `Name "${view.path}" not found${view.siblings.length > 0 ? ' (it was deleted)' : ''}`)
        const live = view.siblings.filter(s => s.deleted !== true)
        ctx.io.stdout(view.conflict
          ? `${view.path}: ${live.length} values (siblings); the first is the default. Keep one with: shoal name resolve ${view.path} CID\n`
          : `${view.path}: ${view.value?.cid ?? ''}\n`)
        ctx.io.stdout(formatTable([['CID', 'SIZE', 'OWNER', 'TIME'], ...live.map(s => [s.cid ?? '', formatBytes(s.size ?? 0), s.owner, formatTime(s.mtime)])]))
        ctx.io.stdout(`context: ${view.context}\n`)
        if (view.replicas.answered < Math.min(2, view.replicas.asked)) ctx.io.stderr(`warning: only ${view.replicas.answered} of ${view.replicas.asked} replicas asked answered\n`)
        return 0
      }
      case 'ls': {
        if (args.length > 1) throw new UsageError('name ls takes at most one PREFIX')
        const names = await (await daemonClient(ctx)).call('name.ls', args[0] == null ? {} : { prefix: args[0] })
        if (ctx.values.json === true) printJson(ctx.io, names)
        else if (names.length > 0) ctx.io.stdout(formatTable([['NAME', 'SIZE', 'OWNER', 'TIME'], ...names.map(lsRow)]))
        return 0
      }
      case 'rm': {
        const [path] = want(1, 'a PATH')
        return printWrite(ctx, await (await daemonClient(ctx)).call('name.rm', { path, context }), 'removed')
      }
      case 'conflicts': {
        want(0, 'no arguments')
        const names = await (await daemonClient(ctx)).call('name.conflicts')
        if (ctx.values.json === true) printJson(ctx.io, names)
        else if (names.length > 0) {
          ctx.io.stdout(formatTable([['NAME', 'VALUES'], ...names.map(n => [n.path, n.siblings.filter(s => s.deleted !== true).map(s => s.cid ?? '').join(' ')])]))
        }
        return 0
      }
      case 'resolve': {
        const [path, cid] = want(2, 'a PATH and a CID')
        return printWrite(ctx, await (await daemonClient(ctx)).call('name.resolve', { path, cid }), 'resolved')
      }
    }
    return 2
  }
}

function printWrite (ctx: CommandContext, outcome: WriteOutcome, verb: string): number {
  if (ctx.values.json === true) {
    printJson(ctx.io, outcome)
    return 0
  }
  const target = outcome.written.deleted === true ? '' : ` -> ${outcome.written.cid ?? ''}`
  const r = outcome.replicas
  ctx.io.stdout(`${verb} ${outcome.path}${target} (${r.confirmed} of ${r.replicaSet} replicas confirmed, quorum ${r.quorum})\n`)
  if (outcome.conflict) {
    const live = outcome.siblings.filter(s => s.deleted !== true)
    ctx.io.stderr(`warning: ${outcome.path} has ${live.length} values (siblings): ${live.map(s => s.cid ?? '').join(', ')}; keep one with: shoal name resolve ${outcome.path} CID\n`)
  }
  if (outcome.warning != null) ctx.io.stderr(`warning: ${outcome.warning}\n`)
  return 0
}

function lsRow (n: NameInfo): string[] {
  const v = n.value as SiblingInfo
  const live = n.siblings.filter(s => s.deleted !== true).length
  return [n.conflict ? `${n.path} (${live} values)` : n.path, formatBytes(v.size ?? 0), v.owner, formatTime(v.mtime)]
}

function formatTime (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')
}

function parseSize (raw: string | undefined): number | undefined {
  if (raw == null) return undefined
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`--size must be a whole number of bytes, not "${raw}"`)
  return n
}
