import path from 'node:path'
import { Readable } from 'node:stream'
import { importDirectory, importFile, nullSink, parseChunker } from '../../content/importer.ts'
import type { AddResult } from '../../node/files.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { jsonOption, repoOption, UsageError } from '../command.ts'
import type { Command, CommandContext } from '../command.ts'
import { daemonClient } from '../daemon-client.ts'
import { printJson } from '../io.ts'
import { counted, fileStream, inspectInput, listTree, multipartBody } from '../local-files.ts'
import { formatBytes, progressBar } from '../progress.ts'

export const addCommand: Command = {
  name: 'add',
  summary: 'Add a file (or with -r a directory) to shoal and print its CID.',
  usage: 'add [-r] [-Q] [-n] [--cid-version 0|1] [--chunker size-N|fastcdc[-MIN-AVG-MAX]] [--replicas N] [--quorum N] FILE|-',
  description: [
    'The CID is the one Kubo\'s `ipfs add --cid-version=1` gives (256 KiB chunks, raw leaves);',
    '--cid-version 0 gives plain `ipfs add`\'s. The root is pinned, and every block is pushed to',
    'its replica set; add returns once every block has its write quorum of confirmed replicas.',
    '`-` reads standard input. --only-hash computes the CID without a daemon and stores nothing.'
  ].join('\n'),
  options: {
    repo: repoOption,
    recursive: { type: 'boolean', short: 'r', description: 'add a directory and everything in it' },
    quiet: { type: 'boolean', short: 'Q', description: 'print only the root CID, no progress' },
    'only-hash': { type: 'boolean', short: 'n', description: 'only compute the CID; store nothing (no daemon needed)' },
    'cid-version': { type: 'string', value: '0|1', description: 'CID version (default 1)' },
    chunker: { type: 'string', value: 'SPEC', description: 'size-N (default size-262144), fastcdc, or fastcdc-MIN-AVG-MAX' },
    'raw-leaves': { type: 'boolean', description: 'raw leaf blocks also with --cid-version 0' },
    'no-pin': { type: 'boolean', description: 'do not pin the root here' },
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
    const quiet = v.quiet === true
    const label = name === '-' ? 'stdin' : path.basename(name)
    const bar = progressBar(ctx.io, { label: `adding ${label}`, total: input.kind === 'file' ? input.size : undefined, quiet })

    if (v['only-hash'] === true) {
      if (v.name != null) throw new UsageError('--name needs the daemon: it does not go with --only-hash')
      const options = { cidVersion, chunker, rawLeaves: v['raw-leaves'] === true ? true : undefined }
      let cid
      if (input.kind === 'directory') {
        const entries = await listTree(name)
        cid = (await importDirectory(entries.map(e => ({ path: e.path, content: e.file == null ? undefined : fileStream(e.file) })), nullSink, options)).cid
      } else {
        cid = (await importFile(counted(input.kind === 'stdin' ? ctx.io.stdin as AsyncIterable<Uint8Array> : fileStream(name), n => { bar.update(n) }), nullSink, options)).cid
      }
      bar.done()
      return print(ctx, { cid: cid.toString(), name: label })
    }

    const client = await daemonClient(ctx)
    const query = new URLSearchParams()
    if (cidVersion != null) query.set('cid-version', String(cidVersion))
    if (chunker != null) query.set('chunker', chunker)
    if (v['raw-leaves'] === true) query.set('raw-leaves', 'true')
    if (v['no-pin'] === true) query.set('pin', 'false')
    for (const key of ['replicas', 'quorum']) if (v[key] != null) query.set(key, String(parsePositive(v[key] as string, `--${key}`)))

    let request
    if (input.kind === 'directory') {
      const entries = await listTree(name)
      const total = entries.reduce((n, e) => n + e.size, 0)
      const dirBar = progressBar(ctx.io, { label: `adding ${label}`, total, quiet })
      const { body, contentType } = multipartBody(entries, n => { dirBar.update(n) })
      request = client.request('POST', `/api/v1/add?${query}`, { body, headers: { 'Content-Type': contentType } }).finally(() => { dirBar.done() })
    } else {
      const source = input.kind === 'stdin' ? ctx.io.stdin as AsyncIterable<Uint8Array> : fileStream(name)
      const body = Readable.from(counted(source, n => { bar.update(n) }))
      request = client.request('POST', `/api/v1/add?${query}`, { body, headers: { 'Content-Type': 'application/octet-stream' } }).finally(() => { bar.done() })
    }
    const result = JSON.parse(await client.readAnswer(await request)) as AddResult
    if (!quiet && v.json !== true) ctx.io.stderr(replicationLine(result) + '\n')
    if (v.name != null) {
      const named = await client.call<{ path: string, conflict: boolean }>('name.put', { path: v.name, cid: result.cid, size: result.size })
      if (!quiet && v.json !== true) ctx.io.stderr(`named ${named.path} -> ${result.cid}${named.conflict ? ` (it has several values now: see shoal name get ${named.path})` : ''}\n`)
      return print(ctx, { ...result, name: label, path: named.path })
    }
    return print(ctx, { ...result, name: label })
  }
}

function print (ctx: CommandContext, result: { cid: string, name: string, path?: string } & Partial<AddResult>): number {
  if (ctx.values.json === true) printJson(ctx.io, result)
  else if (ctx.values.quiet === true) ctx.io.stdout(`${result.cid}\n`)
  else ctx.io.stdout(`added ${result.cid} ${result.name}\n`)
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
