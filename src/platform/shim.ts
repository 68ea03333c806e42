/**
 * Runtime fixes that must load before libp2p. Only Deno needs them today:
 *
 * - mortice (libp2p's lock library) opens a global BroadcastChannel and calls
 *   `unref?.()` on it; Deno's BroadcastChannel has no `unref`, so it keeps the
 *   process alive forever. Node's own implementation from `node:worker_threads`
 *   has one.
 * - `AbortSignal.timeout()` timers keep Deno alive while a listener is
 *   attached; libp2p attaches listeners to many of them. Replace it with a
 *   signal whose timer is unref'd, as Node's is.
 *
 * Import this module first (bin/shoal.ts and .mocharc.json do).
 */
import { BroadcastChannel as NodeBroadcastChannel } from 'node:worker_threads'
import { setTimeout as nodeSetTimeout } from 'node:timers'
import { isDeno } from './runtime.ts'

if (isDeno) {
  Object.defineProperty(globalThis, 'BroadcastChannel', {
    value: NodeBroadcastChannel,
    writable: true,
    configurable: true
  })

  AbortSignal.timeout = function timeout (ms: number): AbortSignal {
    const controller = new AbortController()
    const timer = nodeSetTimeout(() => {
      controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
    }, ms)
    timer.unref()
    return controller.signal
  }
}
