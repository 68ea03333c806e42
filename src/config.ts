/**
 * The node's settings: embedded defaults, the config file that holds them
 * (written on first start so users can see and edit them), and validation.
 * A leaf module: the CLI reads it to find the daemon, the node to start.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { ConfigError, InvalidArgumentError } from './errors.ts'
import { readFileIfExists, writeFileAtomic } from './platform/files.ts'

export const DHT_PROTOCOL = '/shoal/kad/1.0.0'
export const DEFAULT_P2P_PORT = 4710
export const DEFAULT_RPC_PORT = 4711
export const DEFAULT_GATEWAY_PORT = 4712

export interface ShoalConfig {
  /** p2p listen multiaddrs */
  listen: string[]
  /** RPC address, host:port */
  rpc: string
  /** keep rpc.token across restarts (for apps that read it once); false: a new token at every start. `shoal token rotate` replaces it either way */
  rpcTokenStable: boolean
  /** extra Host header values the RPC port accepts (for a port mapped into a container) */
  rpcAllowedHosts: string[]
  /** multiaddrs with /p2p/ of peers to join at start */
  bootstrap: string[]
  /** find peers on the local network with mDNS */
  mdns: boolean
  /** replica set size of every block and name, self included (k) */
  replicas: number
  /** confirmed copies every write (add, name write) needs, never lowered: a write short of it fails (default: a majority of replicas) */
  quorum: number
  /** a peer protocol stream (block exchange, name sync) with nothing in flight is closed after this long, ms */
  streamIdleTimeoutMs: number
  /** this node closes its own pooled streams to a peer after this long unused, ms (keep it below streamIdleTimeoutMs) */
  sessionIdleTimeoutMs: number
  /** a storage node that left is replaced (its blocks copied to others) after this long, s */
  repairGraceSeconds: number
  /** anti-entropy with every neighbour this often, s */
  antiEntropyIntervalSeconds: number
  /** repair and anti-entropy traffic at most this many bytes per second */
  repairBytesPerSecond: number
  /** scrub re-verifies every stored block once in this long, hours (0: no scrub) */
  scrubPeriodHours: number
  /** peer ids allowed to connect (empty: every node that has the swarm key, or anyone without one) */
  allowPeers: string[]
  /** name prefixes (ending in "/") and the peer ids that alone may write under them; elsewhere any member may */
  nameOwners: Record<string, string[]>
  /** most bytes of blocks this node stores (0: no limit but the disk); beyond it adds and pushes fail with ERR_STORAGE_FULL */
  storageMax: number
  /** most connections open on the RPC port at once; more are closed at once */
  rpcMaxConnections: number
  /** an RPC request's headers must arrive within this long, and its body must send at least 1 KiB in every such period, s */
  rpcReadTimeoutSeconds: number
  /** most libp2p connections (peers) at once */
  maxConnections: number
  /** the HTTP gateway's address, HOST:PORT (read-only: trustless blocks and CARs, files, listings); null: off. `true` in the file means 127.0.0.1:4712 */
  gateway: string | null
  /** serve stored blocks over bitswap (/ipfs/bitswap/1.2.0) to IPFS nodes that connect (Kubo, Helia) */
  bitswap: boolean
  /** how blocks are kept on disk: packed (segment files, the default) or flat (one file per block); a repo in the other layout is moved at start */
  blockstore: 'packed' | 'flat'
}

export const DEFAULT_CONFIG: Readonly<ShoalConfig> = Object.freeze({
  listen: [`/ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`],
  rpc: `127.0.0.1:${DEFAULT_RPC_PORT}`,
  rpcTokenStable: false,
  rpcAllowedHosts: [],
  bootstrap: [],
  mdns: true,
  replicas: 3,
  quorum: 2,
  streamIdleTimeoutMs: 30_000,
  sessionIdleTimeoutMs: 20_000,
  repairGraceSeconds: 300,
  antiEntropyIntervalSeconds: 60,
  repairBytesPerSecond: 50_000_000,
  scrubPeriodHours: 168,
  allowPeers: [],
  nameOwners: {},
  storageMax: 0,
  rpcMaxConnections: 256,
  rpcReadTimeoutSeconds: 10,
  maxConnections: 300,
  gateway: null,
  bitswap: true,
  blockstore: 'packed'
})

/** The default write quorum for k replicas: a majority (k=3: 2). */
export function majority (k: number): number {
  return Math.floor(k / 2) + 1
}

export interface HostPort {
  host: string
  port: number
}

/** `127.0.0.1:4711`, `[::1]:4711`, `localhost:0`; port 0 means any free port. */
export function parseHostPort (value: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim())
  const port = match == null ? NaN : Number(match[3])
  if (match == null || port > 65535) {
    throw new InvalidArgumentError(`Invalid address "${value}": expected HOST:PORT, e.g. 127.0.0.1:${DEFAULT_RPC_PORT}`)
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

/** Validate a parsed config file, filling in defaults for absent keys. */
export function parseConfig (input: unknown, source = 'config'): ShoalConfig {
  if (typeof input !== 'object' || input == null || Array.isArray(input)) {
    throw new ConfigError(`Invalid ${source}: expected a JSON object`)
  }
  const raw = input as Record<string, unknown>
  const known = new Set(Object.keys(DEFAULT_CONFIG))
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new ConfigError(`Invalid ${source}: unknown key "${key}"`)
  }
  const strings = (key: keyof ShoalConfig): string[] => {
    const value = raw[key] ?? DEFAULT_CONFIG[key]
    if (!Array.isArray(value) || value.some(v => typeof v !== 'string')) {
      throw new ConfigError(`Invalid ${source}: "${key}" must be a list of strings`)
    }
    return [...value] as string[]
  }
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn()
    } catch (err) {
      throw new ConfigError(`Invalid ${source}: ${(err as Error).message}`, { cause: err })
    }
  }
  const listen = strings('listen').map(a => wrap(() => validateMultiaddr(a, 'listen address')))
  const bootstrap = strings('bootstrap').map(a => wrap(() => validateMultiaddr(a, 'bootstrap address', true)))
  const rpc = raw.rpc ?? DEFAULT_CONFIG.rpc
  if (typeof rpc !== 'string') throw new ConfigError(`Invalid ${source}: "rpc" must be a string HOST:PORT`)
  wrap(() => parseHostPort(rpc))
  const flag = (key: 'mdns' | 'rpcTokenStable' | 'bitswap'): boolean => {
    const value = raw[key] ?? DEFAULT_CONFIG[key]
    if (typeof value !== 'boolean') throw new ConfigError(`Invalid ${source}: "${key}" must be true or false`)
    return value
  }
  const count = (key: 'replicas' | 'quorum', fallback: number): number => {
    const value = raw[key] ?? fallback
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 64) {
      throw new ConfigError(`Invalid ${source}: "${key}" must be a whole number from 1 to 64`)
    }
    return value
  }
  const replicas = count('replicas', DEFAULT_CONFIG.replicas)
  const quorum = count('quorum', majority(replicas))
  if (quorum > replicas) throw new ConfigError(`Invalid ${source}: a "quorum" of ${quorum} can never be met with ${replicas} "replicas"`)
  const number = (key: 'repairGraceSeconds' | 'antiEntropyIntervalSeconds' | 'repairBytesPerSecond' | 'scrubPeriodHours' | 'storageMax' | 'rpcMaxConnections' | 'rpcReadTimeoutSeconds' | 'maxConnections', min: number, max: number): number => {
    const value = raw[key] ?? DEFAULT_CONFIG[key]
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw new ConfigError(`Invalid ${source}: "${key}" must be a number from ${min} to ${max}`)
    }
    return value
  }
  const millis = (key: 'streamIdleTimeoutMs' | 'sessionIdleTimeoutMs'): number => {
    const value = raw[key] ?? DEFAULT_CONFIG[key]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 100 || value > 86_400_000) {
      throw new ConfigError(`Invalid ${source}: "${key}" must be a whole number of milliseconds from 100 to 86400000`)
    }
    return value
  }
  const peerIds = (value: unknown, what: string): string[] => {
    if (!Array.isArray(value) || value.some(v => typeof v !== 'string' || !isPeerId(v))) {
      throw new ConfigError(`Invalid ${source}: ${what} must be a list of peer ids (e.g. "12D3KooW...")`)
    }
    return [...value] as string[]
  }
  const allowPeers = peerIds(raw.allowPeers ?? DEFAULT_CONFIG.allowPeers, '"allowPeers"')
  const ownersRaw = raw.nameOwners ?? DEFAULT_CONFIG.nameOwners
  if (typeof ownersRaw !== 'object' || ownersRaw == null || Array.isArray(ownersRaw)) {
    throw new ConfigError(`Invalid ${source}: "nameOwners" must be an object of name prefixes to lists of peer ids, e.g. {"/team/": ["12D3KooW..."]}`)
  }
  const nameOwners: Record<string, string[]> = {}
  for (const [prefix, owners] of Object.entries(ownersRaw)) {
    if (!prefix.startsWith('/') || !prefix.endsWith('/')) throw new ConfigError(`Invalid ${source}: the "nameOwners" prefix "${prefix}" must start and end with "/" (e.g. "/team/")`)
    nameOwners[prefix] = peerIds(owners, `the owners of "${prefix}" in "nameOwners"`)
  }
  const gatewayRaw = raw.gateway ?? DEFAULT_CONFIG.gateway
  const gateway = gatewayRaw === true ? `127.0.0.1:${DEFAULT_GATEWAY_PORT}` : gatewayRaw === false ? null : gatewayRaw
  if (gateway != null && typeof gateway !== 'string') throw new ConfigError(`Invalid ${source}: "gateway" must be null (off), true (127.0.0.1:${DEFAULT_GATEWAY_PORT}) or a string HOST:PORT`)
  if (gateway != null) wrap(() => parseHostPort(gateway))
  const blockstore = raw.blockstore ?? DEFAULT_CONFIG.blockstore
  if (blockstore !== 'packed' && blockstore !== 'flat') throw new ConfigError(`Invalid ${source}: "blockstore" must be "packed" or "flat"`)
  return {
    listen,
    rpc,
    rpcTokenStable: flag('rpcTokenStable'),
    rpcAllowedHosts: strings('rpcAllowedHosts'),
    bootstrap,
    mdns: flag('mdns'),
    replicas,
    quorum,
    streamIdleTimeoutMs: millis('streamIdleTimeoutMs'),
    sessionIdleTimeoutMs: millis('sessionIdleTimeoutMs'),
    repairGraceSeconds: number('repairGraceSeconds', 0, 30 * 86_400),
    antiEntropyIntervalSeconds: number('antiEntropyIntervalSeconds', 0.1, 86_400),
    repairBytesPerSecond: number('repairBytesPerSecond', 1024, 1e12),
    scrubPeriodHours: number('scrubPeriodHours', 0, 24 * 365),
    allowPeers,
    nameOwners,
    storageMax: Math.floor(number('storageMax', 0, 2 ** 53)),
    rpcMaxConnections: Math.floor(number('rpcMaxConnections', 1, 100_000)),
    rpcReadTimeoutSeconds: number('rpcReadTimeoutSeconds', 0.1, 3600),
    maxConnections: Math.floor(number('maxConnections', 1, 100_000)),
    gateway,
    bitswap: flag('bitswap'),
    blockstore
  }
}

/** Read the config file, or write the embedded defaults there if it does not exist yet. */
export async function loadOrCreateConfig (file: string): Promise<{ config: ShoalConfig, created: boolean }> {
  const raw = await readFileIfExists(file)
  if (raw == null) {
    const config = parseConfig({ ...DEFAULT_CONFIG })
    await writeFileAtomic(file, JSON.stringify(config, null, 2) + '\n', 0o600)
    return { config, created: true }
  }
  return { config: parseConfigText(raw.toString('utf8'), file), created: false }
}

/** Read the config file if there is one (the CLI must not create it). */
export async function readConfig (file: string): Promise<ShoalConfig> {
  const raw = await readFileIfExists(file)
  return raw == null ? parseConfig({ ...DEFAULT_CONFIG }) : parseConfigText(raw.toString('utf8'), file)
}

function parseConfigText (text: string, file: string): ShoalConfig {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`Invalid config file "${file}": ${(err as Error).message}`)
  }
  return parseConfig(parsed, `config file "${file}"`)
}
