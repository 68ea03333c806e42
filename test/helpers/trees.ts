/**
 * Trees for the path and tar tests: one description gives the entries of an
 * add and what a download of it must recreate on disk.
 */
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { DirectoryEntryInput } from '../../src/content/importer.ts'
import type { Files } from '../../src/node/files.ts'

/** A name that needs percent-encoding in a URL (and UTF-8 in a tar header). */
export const ODD = '100% é [x].txt'

/** A tree as given to the add, and as a tar of it must recreate it. */
export type TreeSpec = Record<string, { dir: true } | { content: Buffer } | { target: string }>

/** What is on disk below `root`: directories, files (their sha256), symlinks (their targets). */
export async function readTree (root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const p = rel === '' ? e.name : `${rel}/${e.name}`
      const full = path.join(dir, e.name)
      if (e.isSymbolicLink()) out[p] = `-> ${await fs.readlink(full)}`
      else if (e.isDirectory()) {
        out[p] = 'dir'
        await visit(full, p)
      } else out[p] = crypto.createHash('sha256').update(await fs.readFile(full)).digest('hex')
    }
  }
  await visit(root, '')
  return out
}

/** readTree's view of a TreeSpec, below `prefix` (entries outside it dropped, the prefix cut off). */
export function expectedTree (spec: TreeSpec, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [p, e] of Object.entries(spec)) {
    if (prefix !== '' && !p.startsWith(`${prefix}/`)) continue
    const rel = prefix === '' ? p : p.slice(prefix.length + 1)
    out[rel] = 'dir' in e ? 'dir' : 'target' in e ? `-> ${e.target}` : crypto.createHash('sha256').update(e.content).digest('hex')
  }
  return out
}

export function entriesOf (spec: TreeSpec): DirectoryEntryInput[] {
  return Object.entries(spec).map(([p, e]) => 'dir' in e ? { path: p } : 'target' in e ? { path: p, target: e.target } : { path: p, content: [e.content] })
}

/** Add the tree through a node's Files: its root CID, and the CID of each entry by path. */
export async function addTree (files: Files, spec: TreeSpec, options?: Parameters<Files['addDirectory']>[1]): Promise<{ cid: string, cids: Map<string, string> }> {
  const added = await files.addDirectory((async function * () { yield * entriesOf(spec) })(), options)
  return { cid: added.cid, cids: new Map((added.entries ?? []).map(e => [e.path, e.cid])) }
}

/** Extract a tar archive with the system's tar into a new directory below `parent`; its path. */
export async function extractTar (archive: Uint8Array, parent: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(parent, 'untar-'))
  const file = `${dir}.tar`
  await fs.writeFile(file, archive)
  execFileSync('tar', ['-xf', file, '-C', dir])
  await fs.rm(file)
  return dir
}
