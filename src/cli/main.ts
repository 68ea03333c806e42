/**
 * `shoal COMMAND [OPTIONS]`: dispatch, --help, and the one place where
 * errors become a one-line message and an exit code (0 ok, 1 failed,
 * 2 bad command line).
 */
import { RpcError, ShoalError } from '../errors.ts'
import { systemErrorCode, systemErrorWords } from '../platform/errno.ts'
import { VERSION } from '../version.ts'
import { helpText, parse, UsageError } from './command.ts'
import type { Command } from './command.ts'
import { printJson, processIO } from './io.ts'
import type { CliIO } from './io.ts'

/** Loaded on demand, so that `shoal version` does not load libp2p. */
const COMMANDS: Record<string, { summary: string, load: () => Promise<Command> }> = {
  init: { summary: 'create a repo; --swarm-key for a private network', load: async () => (await import('./commands/init.ts')).initCommand },
  daemon: { summary: 'run a shoal node', load: async () => (await import('./commands/daemon.ts')).daemonCommand },
  id: { summary: 'show the node\'s peer id and addresses', load: async () => (await import('./commands/id.ts')).idCommand },
  peers: { summary: 'list connected peers', load: async () => (await import('./commands/peers.ts')).peersCommand },
  health: { summary: 'show the node\'s health', load: async () => (await import('./commands/health.ts')).healthCommand },
  add: { summary: 'add a file or directory, print its CID', load: async () => (await import('./commands/add.ts')).addCommand },
  cat: { summary: 'write a file\'s bytes to stdout', load: async () => (await import('./commands/cat.ts')).catCommand },
  get: { summary: 'save a file or directory to disk', load: async () => (await import('./commands/get.ts')).getCommand },
  ls: { summary: 'list a directory', load: async () => (await import('./commands/ls.ts')).lsCommand },
  stat: { summary: 'what a CID is and where its replicas are', load: async () => (await import('./commands/stat.ts')).statCommand },
  refs: { summary: 'list the CIDs a block links to (-r: all below)', load: async () => (await import('./commands/refs.ts')).refsCommand },
  dag: { summary: 'CAR archives: dag export CID > x.car, dag import FILE', load: async () => (await import('./commands/dag.ts')).dagCommand },
  block: { summary: 'single blocks: block get|put|stat', load: async () => (await import('./commands/block.ts')).blockCommand },
  pin: { summary: 'pin add|rm|ls', load: async () => (await import('./commands/pin.ts')).pinCommand },
  name: { summary: 'mutable names: name put|get|ls|rm|conflicts|resolve', load: async () => (await import('./commands/name.ts')).nameCommand },
  gc: { summary: 'remove unpinned blocks', load: async () => (await import('./commands/gc.ts')).gcCommand },
  repo: { summary: 'repo stat', load: async () => (await import('./commands/repo.ts')).repoCommand },
  config: { summary: 'config show|get|set|unset: the repo\'s settings (config.json)', load: async () => (await import('./commands/config.ts')).configCommand },
  token: { summary: 'token rotate: a new RPC token, the old one refused', load: async () => (await import('./commands/token.ts')).tokenCommand },
  repair: { summary: 'repair status|run: what repair keeps and moves', load: async () => (await import('./commands/repair.ts')).repairCommand },
  version: { summary: 'show shoal\'s version', load: async () => (await import('./commands/version.ts')).versionCommand }
}

export function usage (): string {
  const width = Math.max(...Object.keys(COMMANDS).map(n => n.length))
  return [
    `shoal ${VERSION}: a leaderless peer-to-peer storage node`,
    '',
    'Usage: shoal COMMAND [OPTIONS]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "shoal COMMAND --help" for a command\'s options.',
    'Every command that talks to the daemon takes --repo DIR (or $SHOAL_HOME) to find it.',
    ''
  ].join('\n')
}

export async function main (argv: string[], io: CliIO = processIO): Promise<number> {
  const [name, ...args] = argv
  if (name == null || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? args[0] : undefined
    if (topic != null && Object.hasOwn(COMMANDS, topic)) {
      io.stdout(helpText(await COMMANDS[topic].load()))
      return 0
    }
    ;(name == null ? io.stderr : io.stdout)(usage())
    return name == null ? 2 : 0
  }
  if (name === '--version') return await main(['version', ...args], io)
  if (!Object.hasOwn(COMMANDS, name)) {
    io.stderr(`shoal: unknown command "${name}"\n\n${usage()}`)
    return 2
  }
  const command = await COMMANDS[name].load()
  let json = false
  try {
    const { values, positionals } = parse(command, args)
    json = values.json === true
    if (values.help === true) {
      io.stdout(helpText(command))
      return 0
    }
    const code = await command.run({ io, values, positionals })
    // (a closed pipe is not a failure; a full disk under a redirect is)
    await new Promise(resolve => setImmediate(resolve))
    const failed = io.outputError?.()
    if (failed == null) return code
    io.stderr(`shoal ${name}: cannot write to standard output (${systemErrorWords(failed) ?? failed})\n`)
    return code === 0 ? 1 : code
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`shoal ${name}: ${err.message}\nRun "shoal ${name} --help" for usage.\n`)
      return 2
    }
    if (err instanceof ShoalError) {
      io.stderr(`${err.message}\n`)
      // --json: the error as JSON on stdout too, with what the daemon said of it (e.g. a quorum's copies)
      if (json) printJson(io, { error: { message: err.message, code: err.code, ...errorDetails(err) } })
      return 1
    }
    // a system error (a file, the disk): in words, with the path when known
    const words = systemErrorWords(systemErrorCode(err))
    const file = (err as { path?: unknown })?.path
    if (words != null) io.stderr(`shoal ${name} failed: ${typeof file === 'string' ? `"${file}": ` : ''}${words}\n`)
    else io.stderr(`shoal ${name} failed: ${(err as Error)?.message ?? String(err)}\n`)
    if (io.env.SHOAL_DEBUG != null) io.stderr(`${(err as Error)?.stack ?? ''}\n`)
    return 1
  }
}

/** The `details` of a daemon's error (RpcError data), when it sent any. */
function errorDetails (err: ShoalError): { details?: unknown } {
  const data = err instanceof RpcError ? err.data : undefined
  const details = (data as { details?: unknown } | undefined)?.details
  return details === undefined ? {} : { details }
}
