/**
 * Subscriptions, in the style of Ethereum's eth_subscribe: `name.subscribe`
 * and `node.subscribe` answer a subscription id, then each event comes as a
 * notification `{"jsonrpc":"2.0","method":"subscription","params":
 * {"subscription":ID,"result":EVENT}}` until `name.unsubscribe` /
 * `node.unsubscribe` with that id, or until the socket closes. Only a
 * WebSocket carries notifications: over HTTP these methods fail with
 * ERR_SUBSCRIPTION.
 *
 * One SocketSubscriptions per socket: it holds the socket's subscriptions
 * (at most MAX_SUBSCRIPTIONS_PER_SOCKET), and the notifications of a
 * subscription whose id has not been answered yet wait until that answer is
 * sent, so that a client never sees a notification for an id it does not
 * know.
 */
import { randomBytes } from 'node:crypto'
import { SubscriptionError } from '../errors.ts'
import type { NodeEvent } from '../node/node.ts'
import type { NameInfo } from '../names/service.ts'
import { implement } from './implement.ts'
import type { MethodTable, RpcContext, SubscriptionHost } from './jsonrpc.ts'

/** subscriptions one socket may hold at once */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 64

/** What subscriptions are made of: the node's event sources. */
export interface SubscriptionSources {
  names: { onChange(prefix: string, listener: (change: NameInfo) => void): () => void }
  watch(listener: (event: NodeEvent) => void): () => void
}

/** `name.subscribe|unsubscribe`, `node.subscribe|unsubscribe`. */
export function subscriptionMethods (sources: SubscriptionSources): MethodTable {
  const unsubscribe = (kind: string) => ({ subscription }: { subscription: string }, context: RpcContext): boolean =>
    host(context, `${kind}.unsubscribe`).unsubscribe(kind, subscription)
  return implement({
    'name.subscribe': ({ prefix }, context) =>
      host(context, 'name.subscribe').subscribe('name', send => sources.names.onChange(prefix ?? '/', send)),
    'name.unsubscribe': unsubscribe('name'),
    'node.subscribe': (_params, context) => host(context, 'node.subscribe').subscribe('node', send => sources.watch(send)),
    'node.unsubscribe': unsubscribe('node')
  })
}

function host (context: RpcContext, method: string): SubscriptionHost {
  if (context.subscriptions == null) {
    throw new SubscriptionError(`${method} works over a WebSocket only (ws://HOST:PORT/rpc): a plain HTTP request cannot carry notifications`)
  }
  return context.subscriptions
}

interface Subscription {
  kind: string
  stop: () => void
  /** notifications held until the subscribe call is answered (undefined once live) */
  held?: string[]
}

export interface SocketSubscriptionsInit {
  /** writes one message to the socket */
  send(message: string): void
  /** more notifications held than MAX_HELD (a subscribe call that stays unanswered): the socket should close */
  overflow(): void
  /** default MAX_SUBSCRIPTIONS_PER_SOCKET */
  max?: number
}

/** notifications one subscription may hold before its subscribe call is answered */
const MAX_HELD = 1024

/**
 * The subscriptions of one socket. Each message gets its own host
 * (`forMessage`): the subscriptions it makes go live once its answer is sent.
 */
export class SocketSubscriptions {
  private readonly subs = new Map<string, Subscription>()
  private readonly init: SocketSubscriptionsInit

  constructor (init: SocketSubscriptionsInit) {
    this.init = init
  }

  get size (): number {
    return this.subs.size
  }

  /** The host for one message's calls; `live()` once its answer is sent. */
  forMessage (): { host: SubscriptionHost, live: () => void } {
    const made: string[] = []
    return {
      host: {
        subscribe: (kind, start) => {
          const id = this.subscribe(kind, start)
          made.push(id)
          return id
        },
        unsubscribe: (kind, id) => this.unsubscribe(kind, id)
      },
      live: () => { for (const id of made) this.live(id) }
    }
  }

  /** The socket closed: every subscription stops. */
  closeAll (): void {
    const subs = [...this.subs.values()]
    this.subs.clear()
    for (const sub of subs) sub.stop()
  }

  private subscribe (kind: string, start: (send: (result: unknown) => void) => () => void): string {
    const max = this.init.max ?? MAX_SUBSCRIPTIONS_PER_SOCKET
    if (this.subs.size >= max) {
      throw new SubscriptionError(`Cannot subscribe: this socket already has ${max} subscriptions, the most one socket may hold; unsubscribe some first`)
    }
    const id = '0x' + randomBytes(16).toString('hex')
    const sub: Subscription = { kind, stop: () => {}, held: [] }
    this.subs.set(id, sub)
    try {
      sub.stop = start(result => {
        if (this.subs.get(id) !== sub) return
        const message = JSON.stringify({ jsonrpc: '2.0', method: 'subscription', params: { subscription: id, result } })
        if (sub.held == null) this.init.send(message)
        else if (sub.held.push(message) > MAX_HELD) this.init.overflow()
      })
    } catch (err) {
      // (a bad prefix, say): no subscription is left behind
      this.subs.delete(id)
      throw err
    }
    return id
  }

  private unsubscribe (kind: string, id: string): boolean {
    const sub = this.subs.get(id)
    if (sub == null || sub.kind !== kind) return false
    this.subs.delete(id)
    sub.stop()
    return true
  }

  private live (id: string): void {
    const sub = this.subs.get(id)
    const held = sub?.held
    if (sub == null || held == null) return
    sub.held = undefined
    for (const message of held) this.init.send(message)
  }
}
