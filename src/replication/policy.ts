/**
 * The replication policy of a node, one for blocks and names alike: k, the
 * replica set's size (self included), the write quorum W (confirmed copies
 * a write needs before it is acknowledged) and the read quorum R (replicas
 * a name read asks).
 *
 * The write quorum is a promise to the user: it is never lowered to what
 * happens to be reachable. A write that cannot reach W copies fails with
 * QuorumError (keeping what it stored); a W that could never be met (above
 * k) is refused before anything is written.
 */
import { majority } from '../config.ts'
import { InvalidArgumentError } from '../errors.ts'

export interface PolicyInit {
  /** replica set size, self included */
  k: number
  /** confirmed copies a write needs (default: a majority of k) */
  writeQuorum?: number
  /** replicas a name read asks (default 2, at most k) */
  readQuorum?: number
}

export class ReplicationPolicy {
  readonly k: number
  readonly writeQuorum: number
  readonly readQuorum: number

  constructor (init: PolicyInit) {
    this.k = checkCount(init.k, 'replica count')
    this.writeQuorum = checkQuorum(init.writeQuorum ?? majority(this.k), this.k)
    this.readQuorum = Math.min(checkCount(init.readQuorum ?? 2, 'read quorum'), this.k)
  }

  /**
   * k and W of one write: what the caller asked for, else the node's. With
   * only `replicas` given, W is the node's write quorum, at most that k.
   */
  forWrite (options: { replicas?: number, quorum?: number } = {}): { k: number, quorum: number } {
    const k = options.replicas == null ? this.k : checkCount(options.replicas, 'replica count')
    const quorum = options.quorum == null ? Math.min(this.writeQuorum, k) : checkQuorum(options.quorum, k)
    return { k, quorum }
  }
}

function checkCount (n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError(`Invalid ${what} ${n}: expected a whole number from 1 to 64`)
  return n
}

function checkQuorum (quorum: number, k: number): number {
  checkCount(quorum, 'quorum')
  if (quorum > k) throw new InvalidArgumentError(`A quorum of ${quorum} can never be met with ${k} replica${k === 1 ? '' : 's'}: give a quorum from 1 to ${k}, or more replicas`)
  return quorum
}
