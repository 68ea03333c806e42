/**
 * What happens to a node, as one stream of events for those who watch it
 * (the RPC method node.subscribe): storage peers joining and leaving (from
 * Membership), repair passes starting and ending with what they moved (from
 * BlockReplicaService), and health changes. Health has no event of its own:
 * while anyone watches it is polled, at most once per `healthPollMs`
 * (default 1 s), and only a change of its status or problems is told.
 * Nothing is listened to or polled while nobody watches.
 */
import { clearInterval, setInterval } from 'node:timers'
import type { PeerId } from '@libp2p/interface'
import { Listeners } from '../platform/listeners.ts'
import type { Logger } from '../platform/logger.ts'
import type { RepairReport } from '../replication/repair.ts'
import type { RepairEvent } from '../replication/service.ts'

export interface HealthState {
  status: string
  problems: string[]
}

export type NodeEvent =
  | { type: 'peer.joined', peer: string }
  | { type: 'peer.left', peer: string }
  | { type: 'health', status: string, problems: string[], previous: HealthState }
  | { type: 'repair.started', startedAt: number }
  | { type: 'repair.ended', report: RepairReport }

export interface NodeEventsInit {
  /** storage peers joining (true) and leaving (false): Membership.onChange */
  onMembership(listener: (peer: PeerId, joined: boolean) => void): () => void
  /** BlockReplicaService.onRepair */
  onRepair(listener: (event: RepairEvent) => void): () => void
  health(): HealthState
  /** default 1000 */
  healthPollMs?: number
  logger: Logger
}

export class NodeEvents {
  private readonly init: NodeEventsInit
  private readonly watchers: Listeners<NodeEvent>
  private sources: Array<() => void> = []

  constructor (init: NodeEventsInit) {
    this.init = init
    this.watchers = new Listeners('node event', init.logger)
  }

  /** How many watch now. */
  get watching (): number {
    return this.watchers.size
  }

  /** Calls `listener` with every event from now on; returns the function that stops it. */
  watch (listener: (event: NodeEvent) => void): () => void {
    const remove = this.watchers.add(listener)
    if (this.watchers.size === 1) this.open()
    return () => {
      remove()
      if (this.watchers.size === 0) this.close()
    }
  }

  /** Every watcher is dropped (the node is stopping). */
  stop (): void {
    this.watchers.clear()
    this.close()
  }

  private open (): void {
    const emit = (event: NodeEvent): void => { this.watchers.emit(event) }
    const peers = this.init.onMembership((peer, joined) => { emit({ type: joined ? 'peer.joined' : 'peer.left', peer: peer.toString() }) })
    const repair = this.init.onRepair(e => { emit(e.type === 'started' ? { type: 'repair.started', startedAt: e.startedAt } : { type: 'repair.ended', report: e.report }) })
    let last = this.readHealth()
    const timer = setInterval(() => {
      const now = this.readHealth()
      if (now == null || last == null || sameHealth(now, last)) {
        last ??= now
        return
      }
      const previous = last
      last = now
      emit({ type: 'health', ...now, previous })
    }, this.init.healthPollMs ?? 1000)
    timer.unref()
    this.sources = [peers, repair, () => { clearInterval(timer) }]
  }

  private close (): void {
    for (const stop of this.sources) stop()
    this.sources = []
  }

  private readHealth (): HealthState | undefined {
    try {
      const { status, problems } = this.init.health()
      return { status, problems: [...problems] }
    } catch (err) {
      this.init.logger.warn('could not read the health for node events', { error: (err as Error).message })
      return undefined
    }
  }
}

function sameHealth (a: HealthState, b: HealthState): boolean {
  return a.status === b.status && a.problems.length === b.problems.length && a.problems.every((p, i) => p === b.problems[i])
}
