/**
 * What a CLI command is: its name, its help text, its options (parsed with
 * node:util parseArgs), and what it runs. Every command gets --help, and
 * --repo and --json where they apply.
 */
import { parseArgs } from 'node:util'
import { InvalidArgumentError } from '../errors.ts'
import type { CliIO } from './io.ts'

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** shown in --help, e.g. MULTIADDR */
  value?: string
  description: string
}

export interface CommandContext {
  io: CliIO
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

export interface Command {
  name: string
  summary: string
  usage: string
  description?: string
  options: Record<string, OptionSpec>
  run(ctx: CommandContext): Promise<number>
}

export const repoOption: OptionSpec = {
  type: 'string',
  value: 'DIR',
  description: 'the node\'s repo (default: $SHOAL_HOME, else ~/.shoal)'
}

export const jsonOption: OptionSpec = {
  type: 'boolean',
  description: 'print machine-readable JSON'
}

const helpOption: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' }

/** Thrown for bad command lines: the CLI prints it with a pointer to --help and exits 2. */
export class UsageError extends InvalidArgumentError {}

/**
 * Parses a command line. A boolean option also takes Kubo's `--name=true` and
 * `--name=false` (`ipfs add --pin=false`): false leaves the value `false`.
 */
export function parse (command: Command, args: string[]): { values: CommandContext['values'], positionals: string[] } {
  const specs: Record<string, OptionSpec> = { ...command.options, help: helpOption }
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, {
      type: spec.type,
      multiple: spec.multiple ?? false,
      ...(spec.short != null ? { short: spec.short } : {})
    }])
  )
  const explicitFalse: string[] = []
  const end = args.indexOf('--')
  const rewritten = args.flatMap((arg, i) => {
    const m = /^--([^=]+)=(true|false)$/.exec(arg)
    if (m == null || (end !== -1 && i > end) || specs[m[1]]?.type !== 'boolean') return [arg]
    if (m[2] === 'true') return [`--${m[1]}`]
    explicitFalse.push(m[1])
    return []
  })
  try {
    const { values, positionals } = parseArgs({ args: rewritten, options, allowPositionals: true, strict: true })
    for (const name of explicitFalse) (values as Record<string, unknown>)[name] = false
    return { values: values as CommandContext['values'], positionals }
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

export function helpText (command: Command): string {
  const lines = [`Usage: shoal ${command.usage}`, '', command.summary]
  if (command.description != null) lines.push('', command.description)
  lines.push('', 'Options:')
  const entries = Object.entries({ ...command.options, help: helpOption }).map(([name, spec]) => {
    const flag = `${spec.short != null ? `-${spec.short}, ` : '    '}--${name}${spec.value != null ? ` ${spec.value}` : ''}`
    return [flag, spec.description + (spec.multiple === true ? ' (repeatable)' : '')]
  })
  const width = Math.max(...entries.map(([f]) => f.length))
  for (const [flag, desc] of entries) lines.push(`  ${flag.padEnd(width)}  ${desc}`)
  return lines.join('\n') + '\n'
}
