import path from 'node:path'
import { Readable } from 'node:stream'
import { importDirectory, importFile, importSymlink, nullSink, parseChunker } from '../../content/importer.ts'
import type { AddedEntry, AddResult } from '../../node/files.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command, CommandContext } from '../command.ts'
import type { QueryInput } from '../../client/client.ts'
import { daemonClient } from '../daemon-client.ts'
import { printJson } from '../io.ts'
import { counted, fileStream, inspectInput, listTree, multipartBody, SYMLINK_TYPE } from '../local-files.ts'
import { formatBytes, progressBar } from '../progress.ts'

export const addCommand: Command = {
  name: 'add',
  summary: 'Add a file (or with -r a directory) to shoal and print its CID.',
  usage: 'add [-r] [-H] [-q|-Q] [-n] [--pin=false] [--cid-version 0|1] [--chunker size-N|fastcdc[-MIN-AVG-MAX]] [--replicas N] [--quorum N] FILE|-',
  description: [
    'The CID is the one Kubo\'s `ipfs add --cid-version=1` gives (256 KiB chunks, raw leaves);',
    '--cid-version 0 gives plain `ipfs add`\'s. The root is pinned, and every block is pushed to',
    'its replica set; add returns once every block has its write quorum of confirmed replicas.',
    '`-` reads standard input. --only-hash computes the CID without a daemon and stores nothing.',
    'As Kubo: -r prints "added CID PATH" for every file, symlink and directory, the root last;',
    'names starting with "." are skipped unless -H; a symlink is added as the link itself (a UnixFS',
    'symlink, never followed).'
  ].join('\n'),
  options: {
    repo: repoOption,
    recursive: { type: 'boolean', short: 'r', description: 'add a directory and everything in it' },
    hidden: { type: 'boolean', short: 'H', description: 'with -r: include files and directories whose names start with "."' },
    quiet: { type: 'boolean', short: 'q', description: 'print only CIDs, one a line (with -r every entry, the root last), no progress' },
    quieter: { type: 'boolean', short: 'Q', description: 'print only the root CID, no progress' },
    'only-hash': { type: 'boolean', short: 'n', description: 'only compute the CID; store nothing (no daemon needed)' },
    'cid-version': { type: 'string', value: '0|1', description: 'CID version (default 1)' },
    chunker: { type: 'string', value: 'SPEC', description: 'size-N (default size-262144), fastcdc, or fastcdc-MIN-AVG-MAX' },
    'raw-leaves': { type: 'boolean', description: 'raw leaf blocks also with --cid-version 0' },
    pin: { type: 'boolean', description: 'pin the root here (the default; --pin=false does not, as Kubo)' },
    'no-pin': { type: 'boolean', description: 'do not pin the root here (the same as --pin=false)' },
    replicas: { type: 'string', value: 'N', description: 'replica set size for this add (default: the node\'s, 3)' },
    quorum: { type: 'string', value: 'N', description: 'confirmed copies each block needs, or the add fails (default: the node\'s, 2)' },
    name: { type: 'string', value: 'PATH', description: 'then point the name PATH at it (as shoal name put PATH CID)' },
    json: jsonOption
  },
  async run (ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError(ctx.positionals.length === 0 ? 'name a FILE to add (or - for stdin)' : 'add takes one FILE')
    const name = ctx.positionals[0]
    const v = ctx.values
    const cidVersion = parseCidVersion(v['cid-version'] as string | undefined)
    const chunker = v.chunker as string | undefined
    if (chunker != null) parseChunker(chunker)
    const input = await inspectInput(name, v.recursive === true)
    const quiet = v.quiet === true || v.quieter === true
    const label = name === '-' ? 'stdin' : path.basename(path.resolve(name))
    const entries = input.kind === 'directory' ? await listTree(name, { hidden: v.hidden === true }) : []

    if (v['only-hash'] === true) {
      if (v.name != null) throw new UsageError('--name needs the daemon: it does not go with --only-hash')
      const options = { cidVersion, chunker, rawLeaves: v['raw-leaves'] === true ? true : undefined }
      const bar = progressBar(ctx.io, { label: `adding ${label}`, total: input.kind === 'file' ? input.size : undefined, quiet })
      let result: Printed
      if (input.kind === 'directory') {
        const r = await importDirectory(entries.map(e => ({ path: e.path, target: e.target, content: e.file == null ? undefined : fileStream(e.file) })), nullSink, options)
        result = { cid: r.cid.toString(), name: label, entries: r.entries.map(e => ({ ...e, cid: e.cid.toString() })) }
      } else if (input.kind === 'symlink') {
        result = { cid: (await importSymlink(input.target, nullSink, options)).cid.toString(), name: label }
      } else {
        const source = input.kind === 'stdin' ? ctx.io.stdin as AsyncIterable<Uint8Array> : fileStream(name)
        result = { cid: (await importFile(counted(source, n => { bar.update(n) }), nullSink, options)).cid.toString(), name: label }
      }
      bar.done()
      return print(ctx, result)
    }

    const client = await daemonClient(ctx)
    const query: QueryInput<'add'> = {
      'cid-version': cidVersion,
      chunker,
      'raw-leaves': v['raw-leaves'] === true ? true : undefined,
      pin: v['no-pin'] === true || v.pin === false ? false : undefined,
      replicas: v.replicas == null ? undefined : parsePositive(v.replicas as string, '--replicas'),
      quorum: v.quorum == null ? undefined : parsePositive(v.quorum as string, '--quorum')
    }

    // the daemon says how far it got (NDJSON): bytes imported, then copies confirmed by the replica sets
    const total = input.kind === 'file' ? input.size : input.kind === 'directory' ? entries.reduce((n, e) => n + e.size, 0) : undefined
    let copies = ''
    const bar = progressBar(ctx.io, { label: `adding ${label}`, total, quiet, extra: () => copies })
    let body: Readable
    let contentType = 'application/octet-stream'
    if (input.kind === 'directory') {
      ;({ body, contentType } = multipartBody(entries))
    } else if (input.kind === 'symlink') {
      body = Readable.from([Buffer.from(input.target)])
      contentType = SYMLINK_TYPE
    } else {
      body = Readable.from(input.kind === 'stdin' ? ctx.io.stdin as AsyncIterable<Uint8Array> : fileStream(name))
    }
    let imported = 0
    const result = await client.add(body, {
      query,
      contentType,
      onProgress: (event) => {
        if (event.type === 'import:read') imported = event.detail.bytes
        else if (event.type === 'replicate:confirmed') copies = `${event.detail.confirmed}/${event.detail.wanted} copies confirmed`
        bar.update(imported)
      }
    }).finally(() => { bar.done() })
    if (!quiet && v.json !== true) ctx.io.stderr(replicationLine(result) + '\n')
    if (v.name != null) {
      const named = await client.call('name.put', { path: v.name as string, cid: result.cid, size: result.size })
      if (!quiet && v.json !== true) ctx.io.stderr(`named ${named.path} -> ${result.cid}${named.conflict ? ` (it has several values now: see shoal name get ${named.path})` : ''}\n`)
      return print(ctx, { ...result, name: label, path: named.path })
    }
    return print(ctx, { ...result, name: label })
  }
}

type Printed = { cid: string, name: string, path?: string, entries?: AddedEntry[] } & Partial<AddResult>

/** As `ipfs add` prints: every entry (a tree's, the root last), CIDs only with -q, the root's only with -Q. */
function print (ctx: CommandContext, result: Printed): number {
  const v = ctx.values
  if (v.json === true) {
    printJson(ctx.io, result)
    return 0
  }
  const rows = [...(result.entries ?? []).map(e => ({ cid: e.cid, name: `${result.name}/${e.path}` })), { cid: result.cid, name: result.name }]
  if (v.quieter === true) ctx.io.stdout(`${result.cid}\n`)
  else if (v.quiet === true) ctx.io.stdout(rows.map(r => `${r.cid}\n`).join(''))
  else ctx.io.stdout(rows.map(r => `added ${r.cid} ${r.name}\n`).join(''))
  return 0
}

/** e.g. "replicas: 1024 blocks (256 MiB): 1024 with 3 confirmed (k=3, quorum 2)" */
export function replicationLine (result: AddResult): string {
  const r = result.replication
  const counts = r.replicas.map((n, i) => [i, n] as const).filter(([, n]) => n > 0).map(([i, n]) => `${n} with ${i}`).join(', ')
  const note = r.reachable < r.k ? `; only ${r.reachable} storage node${r.reachable === 1 ? '' : 's'} reachable` : ''
  return `replicas: ${r.blocks} blocks (${formatBytes(result.size)}): ${counts} confirmed (k=${r.k}, quorum ${r.quorum}${note})`
}

function parseCidVersion (raw: string | undefined): 0 | 1 | undefined {
  if (raw == null) return undefined
  if (raw !== '0' && raw !== '1') throw new UsageError(`--cid-version must be 0 or 1, not "${raw}"`)
  return Number(raw) as 0 | 1
}

function parsePositive (raw: string, what: string): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError(`${what} must be a whole number from 1 to 64, not "${raw}"`)
  return n
}
