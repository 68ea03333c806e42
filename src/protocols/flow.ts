/**
 * Flow control for inbound frames: what a stream, a peer, and all peers may
 * have sent that this node holds and has not read yet.
 *
 * - A stream holding more than its high-water mark unread (its reader is
 *   behind) is paused: libp2p stops yamux's window updates, so the sender
 *   stops after what is already in flight (one window). It resumes once its
 *   reader catches up. A sender is slowed, not cut off.
 * - Incomplete frames (a reader waiting for the rest of a frame: the sender
 *   decides when it ends) are counted at the size their header announced,
 *   per peer and in all. A stream whose frame takes a peer, or everyone, past
 *   that budget is aborted with a ProtocolError at once (at the header, before
 *   the body is held). So peers holding half-sent frames on many streams
 *   cannot make this node hold more than the budget (plus what is in flight).
 * - What a stream held is given back when it closes.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { ProtocolError } from '../errors.ts'

export interface FlowLimits {
  /** bytes one stream may hold unread before it is paused */
  streamHighWater: number
  /** bytes of incomplete frames all the streams of one peer may hold */
  peerBytes: number
  /** bytes of incomplete frames all peers together may hold */
  totalBytes: number
}

/**
 * The defaults for a protocol's frames: a stream pauses beyond two frames
 * unread; a peer may have four frames incomplete at once, everyone together
 * sixteen (block exchange: 8 MiB, 16 MiB and 64 MiB).
 */
export function flowLimits (maxFrameBytes: number, given: Partial<FlowLimits> = {}): FlowLimits {
  return { streamHighWater: 2 * maxFrameBytes, peerBytes: 4 * maxFrameBytes, totalBytes: 16 * maxFrameBytes, ...given }
}

/** The part of a stream flow control uses. */
type Pausable = Pick<Stream, 'pause' | 'resume' | 'abort' | 'addEventListener' | 'readStatus'> & { maxReadBufferLength: number }

/** While paused, the muxer still delivers what was in flight (one window): the stream must hold it, not reset. */
const PAUSED_BUFFER_BYTES = 17 * 1024 * 1024

/** One budget for the inbound streams of a protocol, shared by all its peers. */
export class PeerBudget {
  readonly limits: FlowLimits
  private total = 0
  private readonly byPeer = new Map<string, number>()

  constructor (limits: FlowLimits) {
    this.limits = limits
  }

  /** Bytes of incomplete frames held now: by `peer`, or by everyone. */
  held (peer?: PeerId | string): number {
    return peer == null ? this.total : this.byPeer.get(peer.toString()) ?? 0
  }

  /** Flow control for one stream of `peer`; call `read(n)` for every byte taken out of it. */
  track (stream: Pausable, peer: PeerId): StreamFlow {
    return new StreamFlow(this, stream, peer.toString())
  }

  /** @internal */
  change (peer: string, delta: number): void {
    this.total += delta
    const now = (this.byPeer.get(peer) ?? 0) + delta
    if (now <= 0) this.byPeer.delete(peer)
    else this.byPeer.set(peer, now)
  }

  /** @internal */
  over (peer: string): boolean {
    return (this.byPeer.get(peer) ?? 0) > this.limits.peerBytes || this.total > this.limits.totalBytes
  }
}

export class StreamFlow {
  private readonly budget: PeerBudget
  private readonly stream: Pausable
  private readonly peer: string
  private unread = 0
  /** bytes the reader waits for (0: it is not waiting) */
  private wanted = 0
  /** what this stream counts in the budget now: the size of the frame its reader waits for, while incomplete */
  private counted = 0
  private paused = false
  private closed = false

  constructor (budget: PeerBudget, stream: Pausable, peer: string) {
    this.budget = budget
    this.stream = stream
    this.peer = peer
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, PAUSED_BUFFER_BYTES)
    stream.addEventListener('message', (evt) => {
      if (this.closed) return
      this.unread += evt.data.byteLength
      this.update()
    })
    stream.addEventListener('close', () => { this.close() }, { once: true })
  }

  /** The reader waits for `n` bytes (0: it stopped waiting). */
  want (n: number): void {
    this.wanted = n
    this.update()
  }

  /** `n` bytes were read out of the stream. */
  read (n: number): void {
    this.wanted = 0
    if (this.closed || n <= 0) return
    this.unread -= Math.min(n, this.unread)
    this.update()
  }

  /** The stream is gone: what it held is given back. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.unread = 0
    this.count(0)
  }

  private count (bytes: number): void {
    if (bytes !== this.counted) this.budget.change(this.peer, bytes - this.counted)
    this.counted = bytes
  }

  /** Count, pause, resume or abort as the bytes say. */
  update (): void {
    if (this.closed) return
    const status = this.stream.readStatus
    if (status === 'closing' || status === 'closed') return
    // an incomplete frame counts at the size it announced: a frame that cannot
    // fit is refused at its header, before its body is held
    const incomplete = this.wanted > this.unread
    this.count(incomplete ? this.wanted : 0)
    if (incomplete && this.budget.over(this.peer)) {
      const { peerBytes, totalBytes } = this.budget.limits
      this.stream.abort(new ProtocolError(`Too many bytes of half-received frames: this peer holds ${this.budget.held(this.peer)} ` +
        `(limit ${peerBytes}), all peers ${this.budget.held()} (limit ${totalBytes}); closing a stream whose frame is incomplete`))
      this.close()
      return
    }
    const over = this.unread > this.budget.limits.streamHighWater
    if (over === this.paused) return
    this.paused = over
    if (over) this.stream.pause()
    else this.stream.resume()
  }
}
