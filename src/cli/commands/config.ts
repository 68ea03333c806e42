import fs from 'node:fs/promises'
import { checkConfig, CONFIG_KEYS, parseConfig, readConfig, readConfigFile, writeConfigFile } from '../../config.ts'
import type { ShoalConfig } from '../../config.ts'
import { ConfigError, RepoError } from '../../errors.ts'
import { readFileIfExists } from '../../platform/files.ts'
import { isProcessAlive, repoPaths, resolveRepoDir } from '../../platform/repo.ts'
import type { RepoPaths } from '../../platform/repo.ts'
import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command, CommandContext } from '../command.ts'
import { formatTable, printJson } from '../io.ts'

export const configCommand: Command = {
  name: 'config',
  summary: 'Show or change the repo\'s config.json: config show | get KEY | set KEY VALUE | unset KEY.',
  usage: 'config show|get KEY|set KEY VALUE|unset KEY [--repo DIR] [--json]',
  description: [
    'show prints the settings as the daemon would read them (a key absent from the file takes its default);',
    'get prints one. set checks the whole file with the new value before writing it, and a bad value changes',
    'nothing; VALUE is JSON when it parses as JSON (5, false, \'["/ip4/0.0.0.0/tcp/4710"]\'), else a string',
    '(127.0.0.1:4711). unset puts a key back to its default. A running daemon reads the file at its next start.',
    'Every key, its type, bounds and default: docs/config.md.'
  ].join('\n'),
  options: { repo: repoOption, json: jsonOption },
  async run (ctx) {
    const [action, ...args] = ctx.positionals
    const arity: Record<string, number> = { show: 0, get: 1, set: 2, unset: 1 }
    if (action == null || !Object.hasOwn(arity, action)) throw new UsageError('say "config show", "config get KEY", "config set KEY VALUE" or "config unset KEY"')
    if (args.length !== arity[action]) throw new UsageError(`"config ${action}" takes ${['no argument', 'a KEY', 'a KEY and a VALUE'][arity[action]]}`)
    const paths = repoPaths(resolveRepoDir({ repo: ctx.values.repo as string | undefined, env: ctx.io.env }))
    const json = ctx.values.json === true

    if (action === 'show') {
      const input = await readConfigFile(paths.config) ?? {}
      const config = parseConfig(input, `config file "${paths.config}"`)
      if (json) printJson(ctx.io, config)
      else ctx.io.stdout(formatTable(CONFIG_KEYS.map(key => [key, JSON.stringify(config[key]) + (Object.hasOwn(input, key) ? '' : '  (default)')])))
      return 0
    }
    const key = configKey(args[0])
    if (action === 'get') {
      const value = (await readConfig(paths.config))[key]
      if (json) printJson(ctx.io, value)
      else ctx.io.stdout(`${typeof value === 'string' ? value : JSON.stringify(value)}\n`)
      return 0
    }

    // set and unset change the file of a repo that exists (the CLI never makes one)
    if (!(await fs.stat(paths.root).then(s => s.isDirectory(), () => false))) {
      throw new RepoError(`No shoal repo at ${paths.root} ("shoal init" makes one)`)
    }
    // (the file as it is is not checked: the new value may be what fixes it)
    const input = await readConfigFile(paths.config) ?? {}
    if (action === 'unset' && !Object.hasOwn(input, key)) return report(ctx, { key, file: paths.config, changed: false })
    const next = action === 'set'
      ? { ...input, [key]: parseValue(args[1]) }
      : Object.fromEntries(Object.entries(input).filter(([k]) => k !== key))
    const { problem } = checkConfig(next)
    if (problem != null) throw new ConfigError(`Cannot ${action} "${key}"${action === 'set' ? ` to ${args[1]}` : ''}: ${problem} (${paths.config} is unchanged)`)
    const config = await writeConfigFile(paths.config, next)
    return report(ctx, { key, value: config[key], file: paths.config, changed: true, daemon: await runningDaemon(paths) })
  }
}

/** What `set`/`unset` did: the key's value as the daemon will read it, and whether a daemon must be restarted for it. */
function report (ctx: CommandContext, done: { key: keyof ShoalConfig, value?: unknown, file: string, changed: boolean, daemon?: number }): number {
  if (ctx.values.json === true) {
    printJson(ctx.io, { key: done.key, value: done.value, file: done.file, changed: done.changed, daemon: done.daemon != null })
    return 0
  }
  ctx.io.stdout(done.changed
    ? `${done.key} = ${JSON.stringify(done.value)} in ${done.file}\n`
    : `${done.key} is not set in ${done.file}: it has its default\n`)
  if (done.daemon != null) ctx.io.stdout(`the daemon running on this repo (pid ${done.daemon}) reads it at its next start: restart it to use it\n`)
  return 0
}

function configKey (key: string): keyof ShoalConfig {
  if (!(CONFIG_KEYS as string[]).includes(key)) {
    throw new ConfigError(`Unknown config key "${key}": "shoal config show" lists the keys, docs/config.md says what each means`)
  }
  return key as keyof ShoalConfig
}

/** VALUE as JSON when it is JSON (5, false, null, ["a"]), else the string itself (127.0.0.1:4711). */
function parseValue (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** The pid of the daemon running on this repo, from the api.json it writes at start (and removes at stop). */
async function runningDaemon (paths: RepoPaths): Promise<number | undefined> {
  try {
    const api = JSON.parse((await readFileIfExists(paths.api))?.toString('utf8') ?? 'null') as { pid?: unknown } | null
    return typeof api?.pid === 'number' && isProcessAlive(api.pid) ? api.pid : undefined
  } catch {
    return undefined // a torn or foreign api.json
  }
}
