/**
 * The node's settings: the schema (every key's type, bounds, default and
 * meaning, in zod), the config file that holds them (written on first start
 * so users can see and edit them), and validation in shoal's words.
 * docs/config.md is generated from the schema (scripts/config-docs.ts).
 * A leaf module: the CLI reads it to find the daemon, the node to start.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { z } from 'zod'
import { ConfigError, InvalidArgumentError } from './errors.ts'
import { readFileIfExists, writeFileAtomic } from './platform/files.ts'

export const DHT_PROTOCOL = '/shoal/kad/1.0.0'
export const DEFAULT_P2P_PORT = 4710
export const DEFAULT_RPC_PORT = 4711
export const DEFAULT_GATEWAY_PORT = 4712

/** The default write quorum for k replicas: a majority (k=3: 2). */
export function majority (k: number): number {
  return Math.floor(k / 2) + 1
}

export interface HostPort {
  host: string
  port: number
}

/** `127.0.0.1:4711`, `[::1]:4711`, `localhost:0`; port 0 means any free port. `what` names the value in the error. */
export function parseHostPort (value: string, what = 'address'): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim())
  const port = match == null ? NaN : Number(match[3])
  if (match == null || port > 65535) {
    throw new InvalidArgumentError(`Invalid ${what} "${value}": expected HOST:PORT, e.g. 127.0.0.1:${DEFAULT_RPC_PORT}`)
  }
  return { host: match[1] ?? match[2], port }
}

export function formatHostPort ({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * A multiaddr shoal can use: a TCP address (as a listen address), or with
 * `requirePeerId` a peer to dial, ending in /p2p/ and a well-formed peer id.
 * The error says what is wrong in shoal's words, with an example.
 */
export function validateMultiaddr (value: string, what: string, requirePeerId = false): string {
  const example = requirePeerId ? `/ip4/192.0.2.7/tcp/${DEFAULT_P2P_PORT}/p2p/12D3KooW...` : `/ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`
  const invalid = (why: string): InvalidArgumentError => new InvalidArgumentError(`Invalid ${what} "${value}": ${why} (e.g. ${example})`)
  if (!value.startsWith('/')) throw invalid('a multiaddr starts with "/"')
  let parsed
  try {
    parsed = multiaddr(value)
  } catch {
    throw invalid('it is not a multiaddr: an unknown protocol, a bad address or a port above 65535?')
  }
  const components = parsed.getComponents()
  if (!components.some(c => c.name === 'tcp')) throw invalid('shoal connects over TCP: the address needs a /tcp/PORT part')
  const peer = components.find(c => c.name === 'p2p')
  if (requirePeerId) {
    if (peer?.value == null) throw invalid('it must end with /p2p/PEER_ID')
    if (!isPeerId(peer.value)) throw invalid(`"${peer.value}" is not a peer id`)
  }
  return value
}

/** A peer id as libp2p prints it: base58 of an identity or sha2-256 multihash ("12D3KooW...", "Qm..."), or a CIDv1 of a libp2p key. */
export function isPeerId (text: string): boolean {
  try {
    const bytes = text.startsWith('1') || text.startsWith('Q') ? base58btc.baseDecode(text) : CID.parse(text).multihash.bytes
    const mh = Digest.decode(bytes)
    return mh.code === 0x00 || mh.code === 0x12
  } catch {
    return false
  }
}

/**
 * A check whose error is a whole sentence that names what it checks (an
 * address's own error, with an example); other errors are phrases that the
 * key's name is put in front of ("must be true or false").
 */
function sentenceCheck<T> (check: (value: T) => unknown): (value: T, ctx: z.core.$RefinementCtx<T>) => void {
  return (value, ctx) => {
    try {
      check(value)
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err
      ctx.addIssue({ code: 'custom', message: err.message, input: value, params: { sentence: true } })
    }
  }
}

const flag = (): z.ZodBoolean => z.boolean({ error: 'must be true or false' })

/**
 * A list of strings, each passing `check` (which throws InvalidArgumentError)
 * when given; `format` names what each string is in docs/config.md.
 */
function strings (check?: (value: string) => unknown, format?: string): z.ZodArray<z.ZodString> {
  const error = 'must be a list of strings'
  const item = check == null ? z.string({ error }) : z.string({ error }).superRefine(sentenceCheck(check))
  return z.array(format == null ? item : item.meta({ format }), { error })
}

/** A number from `min` to `max`; `whole`: an integer; `unit` is said in the error ("of milliseconds"). */
function numberIn (min: number, max: number, options: { whole?: boolean, unit?: string } = {}): z.ZodNumber {
  const error = `must be a ${options.whole === true ? 'whole ' : ''}number${options.unit != null ? ` ${options.unit}` : ''} from ${min} to ${max}`
  const n = z.number({ error })
  return (options.whole === true ? n.int({ error }) : n).min(min, { error }).max(max, { error })
}

const hostPort = (what: string): z.ZodString =>
  z.string({ error: 'must be a string HOST:PORT' }).superRefine(sentenceCheck(v => parseHostPort(v, what))).meta({ format: 'HOST:PORT' })

const PEER_IDS = 'must be a list of peer ids (e.g. "12D3KooW...")'
const peerIds = (error = PEER_IDS): z.ZodArray<z.ZodString> =>
  z.array(z.string({ error }).refine(isPeerId, { error }).meta({ format: 'peer-id' }), { error })

const NAME_OWNERS = 'must be an object of name prefixes to lists of peer ids, e.g. {"/team/": ["12D3KooW..."]}'

/** Every key of config.json: type, bounds, default and what it means. */
const configShape = {
  listen: strings(a => validateMultiaddr(a, 'listen address'), 'multiaddr').default([`/ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`])
    .meta({ description: 'the addresses this node listens on for peers: TCP multiaddrs' }),
  rpc: hostPort('rpc address').default(`127.0.0.1:${DEFAULT_RPC_PORT}`)
    .meta({ description: 'the RPC port\'s address, HOST:PORT (port 0: any free port; the address bound is written to api.json)' }),
  rpcTokenStable: flag().default(false)
    .meta({ description: 'keep rpc.token across restarts (for apps that read it once); false: a new token at every start. `shoal token rotate` replaces it either way' }),
  rpcAllowedHosts: strings().default([])
    .meta({ description: 'extra Host header values the RPC port accepts (for a port mapped into a container)' }),
  bootstrap: strings(a => validateMultiaddr(a, 'bootstrap address', true), 'multiaddr').default([])
    .meta({ description: 'peers to join at start: multiaddrs ending in /p2p/PEER_ID' }),
  mdns: flag().default(true)
    .meta({ description: 'find peers on the local network with mDNS' }),
  replicas: numberIn(1, 64, { whole: true }).default(3)
    .meta({ description: 'replica set size of every block and name, self included (k)' }),
  quorum: numberIn(1, 64, { whole: true }).optional()
    .meta({ description: 'confirmed copies every write (add, name write) needs, never lowered: a write short of it fails. At most `replicas`', 'x-default': 'a majority of `replicas` (2 of 3)' }),
  streamIdleTimeoutMs: numberIn(100, 86_400_000, { whole: true, unit: 'of milliseconds' }).default(30_000)
    .meta({ description: 'a peer protocol stream (block exchange, name sync) with nothing in flight is closed after this long, ms' }),
  sessionIdleTimeoutMs: numberIn(100, 86_400_000, { whole: true, unit: 'of milliseconds' }).default(20_000)
    .meta({ description: 'this node closes its own pooled streams to a peer after this long unused, ms (keep it below streamIdleTimeoutMs)' }),
  repairGraceSeconds: numberIn(0, 30 * 86_400).default(300)
    .meta({ description: 'a storage node that left is replaced (its blocks copied to others) after this long, s' }),
  antiEntropyIntervalSeconds: numberIn(0.1, 86_400).default(60)
    .meta({ description: 'anti-entropy with every neighbour this often, s' }),
  repairBytesPerSecond: numberIn(1024, 1e12).default(50_000_000)
    .meta({ description: 'repair and anti-entropy traffic at most this many bytes per second' }),
  scrubPeriodHours: numberIn(0, 24 * 365).default(168)
    .meta({ description: 'scrub re-verifies every stored block once in this long, hours (0: no scrub)' }),
  allowPeers: peerIds().default([])
    .meta({ description: 'peer ids allowed to connect (empty: every node that has the swarm key, or anyone without one)' }),
  nameOwners: z.record(
    z.string().superRefine(sentenceCheck((prefix: string) => {
      if (!prefix.startsWith('/') || !prefix.endsWith('/')) throw new InvalidArgumentError(`the "nameOwners" prefix "${prefix}" must start and end with "/" (e.g. "/team/")`)
    })).meta({ format: 'name-prefix' }),
    peerIds(NAME_OWNERS),
    { error: NAME_OWNERS }
  ).default({})
    .meta({ description: 'name prefixes (ending in "/") and the peer ids that alone may write under them; elsewhere any member may' }),
  storageMax: numberIn(0, 2 ** 53).default(0).transform(Math.floor)
    .meta({ description: 'most bytes of blocks this node stores (0: no limit but the disk); beyond it adds and pushes fail with ERR_STORAGE_FULL' }),
  rpcMaxConnections: numberIn(1, 100_000).default(256).transform(Math.floor)
    .meta({ description: 'most connections open on the RPC port at once; more are closed at once' }),
  rpcReadTimeoutSeconds: numberIn(0.1, 3600).default(10)
    .meta({ description: 'an RPC request\'s headers must arrive within this long, and its body must send at least 1 KiB in every such period, s' }),
  maxConnections: numberIn(1, 100_000).default(300).transform(Math.floor)
    .meta({ description: 'most libp2p connections (peers) at once' }),
  gateway: z.union([z.null(), z.boolean(), hostPort('gateway address')], { error: `must be null (off), true (127.0.0.1:${DEFAULT_GATEWAY_PORT}) or a string HOST:PORT` })
    .default(null)
    .transform(v => v === true ? `127.0.0.1:${DEFAULT_GATEWAY_PORT}` : v === false ? null : v)
    .meta({ description: `the HTTP gateway's address, HOST:PORT (read-only: trustless blocks and CARs, files, listings); null or false: off; true: 127.0.0.1:${DEFAULT_GATEWAY_PORT}` }),
  bitswap: flag().default(true)
    .meta({ description: 'serve stored blocks over bitswap (/ipfs/bitswap/1.2.0) to IPFS nodes that connect (Kubo, Helia)' }),
  blockstore: z.enum(['packed', 'flat'], { error: 'must be "packed" or "flat"' }).default('packed')
    .meta({ description: 'how blocks are kept on disk: packed (segment files, the default) or flat (one file per block); a repo in the other layout is moved at start' })
}

/**
 * config.json: absent keys take the default; unknown keys are refused (a
 * misspelt key would otherwise be silently ignored). `quorum` defaults to a
 * majority of `replicas` and must not exceed it.
 */
export const configSchema = z.strictObject(configShape, { error: issue => issue.code === 'invalid_type' ? 'expected a JSON object' : undefined })
  .transform((config, ctx) => {
    const quorum = config.quorum ?? majority(config.replicas)
    if (quorum > config.replicas) {
      ctx.addIssue({ code: 'custom', path: ['quorum'], input: quorum, params: { sentence: true }, message: `a "quorum" of ${quorum} can never be met with ${config.replicas} "replicas"` })
      return z.NEVER
    }
    // (the keys in the schema's order, quorum after replicas, as in the file written at first start)
    const ordered = Object.fromEntries(Object.keys(configShape).map(key => [key, key === 'quorum' ? quorum : config[key as keyof typeof config]]))
    return ordered as typeof config & { quorum: number }
  })

/** The node's settings, as the daemon uses them (defaults filled in). */
export type ShoalConfig = z.output<typeof configSchema>

/** The keys config.json may hold, in the schema's order. */
export const CONFIG_KEYS = Object.keys(configShape) as Array<keyof ShoalConfig>

export const DEFAULT_CONFIG: Readonly<ShoalConfig> = Object.freeze(configSchema.parse({}))

/** Every problem zod found, on one line in shoal's words: the key, then what it must be. */
function describeIssues (issues: readonly z.core.$ZodIssue[]): string {
  const describe = (issue: z.core.$ZodIssue): string => {
    if (issue.code === 'unrecognized_keys') return issue.keys.map(k => `unknown key "${k}"`).join(', ')
    // a record's key: its own check said what is wrong
    if (issue.code === 'invalid_key' && issue.issues[0] != null) return describe({ ...issue.issues[0], path: issue.path } as z.core.$ZodIssue)
    const key = issue.path[0]
    if ((issue.code === 'custom' && issue.params?.sentence === true) || key == null) return issue.message
    return `"${String(key)}" ${issue.message}`
  }
  // a misspelt key first: it is the likeliest cause of the rest
  const sorted = [...issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'))
  return sorted.map(describe).join('; ')
}

/** Check a parsed config: the settings (absent keys take their default), or what is wrong in shoal's words. */
export function checkConfig (input: unknown): { config: ShoalConfig, problem?: undefined } | { problem: string } {
  const result = configSchema.safeParse(input)
  return result.success ? { config: result.data } : { problem: describeIssues(result.error.issues) }
}

/** Validate a parsed config file, filling in defaults for absent keys. `source` names it in the error. */
export function parseConfig (input: unknown, source = 'config'): ShoalConfig {
  const checked = checkConfig(input)
  if (checked.problem != null) throw new ConfigError(`Invalid ${source}: ${checked.problem}`)
  return checked.config
}

/** What config.json holds as written, a JSON object not checked yet (absent keys stay absent); undefined when there is no file. */
export async function readConfigFile (file: string): Promise<Record<string, unknown> | undefined> {
  const raw = await readFileIfExists(file)
  if (raw == null) return undefined
  let input: unknown
  try {
    input = JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw new ConfigError(`Invalid config file "${file}": ${(err as Error).message}`)
  }
  if (typeof input !== 'object' || input == null || Array.isArray(input)) throw new ConfigError(`Invalid config file "${file}": expected a JSON object`)
  return input as Record<string, unknown>
}

/**
 * Write `input` as the config file, as given (absent keys stay absent), once
 * it passes the schema: written aside, fsynced and renamed, mode 0600.
 */
export async function writeConfigFile (file: string, input: Record<string, unknown>): Promise<ShoalConfig> {
  const config = parseConfig(input)
  await writeFileAtomic(file, JSON.stringify(input, null, 2) + '\n', 0o600)
  return config
}

/** Read the config file, or write the embedded defaults there if it does not exist yet. */
export async function loadOrCreateConfig (file: string): Promise<{ config: ShoalConfig, created: boolean }> {
  const input = await readConfigFile(file)
  if (input === undefined) return { config: await writeConfigFile(file, { ...DEFAULT_CONFIG }), created: true }
  return { config: parseConfig(input, `config file "${file}"`), created: false }
}

/** Read the config file if there is one (the CLI must not create it). */
export async function readConfig (file: string): Promise<ShoalConfig> {
  return parseConfig(await readConfigFile(file) ?? {}, `config file "${file}"`)
}
