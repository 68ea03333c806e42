/**
 * Who may write a name: any storage member, unless config `nameOwners`
 * gives the name's prefix a list of peer ids, which alone may then write
 * (put and rm) under it. The longest matching prefix decides. Every replica
 * checks every write it takes in (the signer of each new sibling), not only
 * the coordinator, so a member cannot get a write past the owners by
 * sending it to replicas itself.
 */
import { NameForbiddenError } from '../errors.ts'

export class NameOwners {
  private readonly prefixes: Array<[string, Set<string>]>

  /** prefixes end with "/"; "/team/" covers "/team" and everything under it */
  constructor (owners: Record<string, string[]> = {}) {
    this.prefixes = Object.entries(owners)
      .map(([prefix, peers]): [string, Set<string>] => [prefix, new Set(peers)])
      .sort((a, b) => b[0].length - a[0].length)
  }

  /** The peer ids that alone may write `key`, or undefined when any member may. */
  ownersOf (key: string): { prefix: string, owners: Set<string> } | undefined {
    const found = this.prefixes.find(([prefix]) => key.startsWith(prefix) || `${key}/` === prefix)
    return found == null ? undefined : { prefix: found[0], owners: found[1] }
  }

  /** Throws NameForbiddenError unless `writer` may write `key`. */
  check (key: string, writer: string): void {
    const rule = this.ownersOf(key)
    if (rule == null || rule.owners.has(writer)) return
    throw new NameForbiddenError(`Node ${writer} may not write "${key}": only ${[...rule.owners].join(', ')} may write under "${rule.prefix}" (config "nameOwners")`)
  }
}
