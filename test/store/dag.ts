/**
 * Small DAGs for the store tests, built directly with @ipld/dag-pb and
 * multiformats (no importer): raw leaves under dag-pb nodes.
 */
import crypto from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { base32upper } from 'multiformats/bases/base32'
import type { Block } from '../../src/store/blockstore.ts'

/** Deterministic pseudo-random bytes: the same (seed, size) always gives the same bytes. */
export function bytesOf (seed: string, size: number): Uint8Array {
  const out = new Uint8Array(size)
  let counter = 0
  for (let offset = 0; offset < size; offset += 32) {
    const chunk = crypto.createHash('sha256').update(`${seed}:${counter++}`).digest()
    out.set(chunk.subarray(0, Math.min(32, size - offset)), offset)
  }
  return out
}

export async function rawBlock (bytes: Uint8Array): Promise<Block> {
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

/** A dag-pb node linking to `children`; CIDv1 unless `version` is 0. */
export async function pbNode (children: Block[], options: { data?: Uint8Array, version?: 0 | 1 } = {}): Promise<Block> {
  const bytes = dagPb.encode(dagPb.prepare({
    Data: options.data ?? new Uint8Array([8, 1]),
    Links: children.map((c, i) => ({ Hash: c.cid, Name: `${i}`, Tsize: c.bytes.length }))
  }))
  const digest = await sha256.digest(bytes)
  return { cid: options.version === 0 ? CID.createV0(digest) : CID.createV1(dagPb.code, digest), bytes }
}

export interface Dag {
  root: Block
  /** Every block, root first, then interior nodes and leaves. */
  blocks: Block[]
  leaves: Block[]
}

/** A two-level DAG: `groups` interior nodes, each over `perGroup` raw leaves; leaves are `leaf:<seed>:<i>`. */
export async function buildDag (seed: string, options: { groups?: number, perGroup?: number, leafSize?: number, leaves?: Block[], version?: 0 | 1 } = {}): Promise<Dag> {
  const groups = options.groups ?? 2
  const perGroup = options.perGroup ?? 3
  const leaves = options.leaves ?? await Promise.all(Array.from({ length: groups * perGroup }, async (_, i) => await rawBlock(bytesOf(`leaf:${seed}:${i}`, options.leafSize ?? 1000))))
  const interior: Block[] = []
  for (let g = 0; g * perGroup < leaves.length; g++) {
    interior.push(await pbNode(leaves.slice(g * perGroup, (g + 1) * perGroup), { data: new TextEncoder().encode(`node:${seed}:${g}`) }))
  }
  const root = await pbNode(interior, { data: new TextEncoder().encode(`root:${seed}`), version: options.version })
  return { root, blocks: [root, ...interior, ...leaves], leaves }
}

export function mhKey (cid: CID): string {
  return base32upper.baseEncode(cid.multihash.bytes)
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
