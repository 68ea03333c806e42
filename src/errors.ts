/**
 * Every error shoal raises on purpose. Each class has a `name` and a stable
 * `code` that callers (the RPC layer, the CLI, tests) switch on; messages say
 * what failed and why. This module imports nothing.
 */

export class ShoalError extends Error {
  readonly code: string

  constructor (message: string, code = 'ERR_SHOAL', options?: ErrorOptions) {
    super(message, options)
    this.name = 'ShoalError'
    this.code = code
  }
}

/** A value given by a user or a config file is not acceptable. */
export class InvalidArgumentError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_ARGUMENT', options)
    this.name = 'InvalidArgumentError'
  }
}

/** The config file cannot be read or holds a bad value. */
export class ConfigError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_CONFIG', options)
    this.name = 'ConfigError'
  }
}

/** Another live process holds the repo lock. */
export class RepoLockedError extends ShoalError {
  readonly pid: number

  constructor (message: string, pid: number) {
    super(message, 'ERR_REPO_LOCKED')
    this.name = 'RepoLockedError'
    this.pid = pid
  }
}

/** The repo directory is missing, unreadable or malformed. */
export class RepoError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_REPO', options)
    this.name = 'RepoError'
  }
}

/** The CLI could not connect to the daemon's RPC port. */
export class DaemonUnreachableError extends ShoalError {
  readonly address: string

  constructor (address: string, options?: ErrorOptions) {
    super(`Cannot reach the shoal daemon at ${address}: is "shoal daemon" running?`, 'ERR_DAEMON_UNREACHABLE', options)
    this.name = 'DaemonUnreachableError'
    this.address = address
  }
}

/** The daemon answered an RPC call with an error. */
export class RpcError extends ShoalError {
  readonly rpcCode: number
  readonly data: unknown

  constructor (message: string, rpcCode: number, data?: unknown) {
    const code = typeof data === 'object' && data != null && typeof (data as { code?: unknown }).code === 'string'
      ? (data as { code: string }).code
      : 'ERR_RPC'
    super(message, code)
    this.name = 'RpcError'
    this.rpcCode = rpcCode
    this.data = data
  }
}

/** The RPC server refused the request before reading it (auth, host, origin, size). */
export class RpcHttpError extends ShoalError {
  readonly status: number

  constructor (message: string, status: number) {
    super(message, 'ERR_RPC_HTTP')
    this.name = 'RpcHttpError'
    this.status = status
  }
}

/** A method's parameters do not have the expected shape. */
export class InvalidParamsError extends ShoalError {
  /** the method whose params they are, when known */
  readonly method?: string

  constructor (message: string, options: { method?: string } = {}) {
    super(message, 'ERR_INVALID_PARAMS')
    this.name = 'InvalidParamsError'
    this.method = options.method
  }
}

/** A subscription cannot be made: asked over HTTP (only a WebSocket carries notifications), or too many on one socket. */
export class SubscriptionError extends ShoalError {
  constructor (message: string) {
    super(message, 'ERR_SUBSCRIPTION')
    this.name = 'SubscriptionError'
  }
}

/** A long call was aborted through its AbortSignal. */
export class AbortedError extends ShoalError {
  constructor (message = 'The operation was aborted') {
    super(message, 'ERR_ABORTED')
    this.name = 'AbortedError'
  }
}

// ---- content and storage ----

/** A string that is not a CID. */
export class InvalidCidError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_CID', options)
    this.name = 'InvalidCidError'
  }
}

/** A block that is not stored here (or, later, not found on the network). */
export class BlockNotFoundError extends ShoalError {
  readonly cid: string

  constructor (cid: string, message = `Block "${cid}" is not stored on this node`) {
    super(message, 'ERR_BLOCK_NOT_FOUND')
    this.name = 'BlockNotFoundError'
    this.cid = cid
  }
}

/** A block whose bytes do not hash to its CID: never served, quarantined. */
export class CorruptBlockError extends ShoalError {
  readonly cid: string

  constructor (cid: string, message = `Block "${cid}" is corrupted: its bytes do not match its CID`) {
    super(message, 'ERR_CORRUPT_BLOCK')
    this.name = 'CorruptBlockError'
    this.cid = cid
  }
}

/** A codec or hash function shoal does not handle. */
export class UnsupportedError extends ShoalError {
  constructor (message: string) {
    super(message, 'ERR_UNSUPPORTED')
    this.name = 'UnsupportedError'
  }
}

/** The disk (or the repo's quota) is full: the write failed and nothing was kept half-done. */
export class DiskFullError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_DISK_FULL', options)
    this.name = 'DiskFullError'
  }
}

/** The node's storage quota (config storageMax) is used up: the write was refused, nothing was kept half-done. */
export class StorageFullError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_STORAGE_FULL', options)
    this.name = 'StorageFullError'
  }
}

// ---- protocols ----

/** A peer sent something that breaks a wire protocol (malformed, too large, out of order). */
export class ProtocolError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_PROTOCOL', options)
    this.name = 'ProtocolError'
  }
}

/** A listening port (p2p or RPC) could not be opened. */
export class ListenError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_LISTEN', options)
    this.name = 'ListenError'
  }
}

/** A peer answered a well-formed request with an error (it could not, or would not, serve it). */
export class PeerRefusedError extends ShoalError {
  /** the peer's own error code, when it sent one */
  readonly remoteCode?: string

  constructor (message: string, remoteCode?: string) {
    super(message, 'ERR_PEER_REFUSED')
    this.name = 'PeerRefusedError'
    this.remoteCode = remoteCode
  }
}

/** A stream to a peer ended, was reset or closed: a request on it can be tried again on a new stream. */
export class StreamClosedError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_STREAM_CLOSED', options)
    this.name = 'StreamClosedError'
  }
}

// ---- names ----

/** A write to a name that config "nameOwners" reserves for other nodes. */
export class NameForbiddenError extends ShoalError {
  constructor (message: string) {
    super(message, 'ERR_NAME_FORBIDDEN')
    this.name = 'NameForbiddenError'
  }
}

/** A name record (or a context token) that is malformed, over a limit, or not canonically encoded. */
export class InvalidRecordError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_RECORD', options)
    this.name = 'InvalidRecordError'
  }
}

/** A name record whose signature does not verify: forged, or tampered with on the way. */
export class InvalidSignatureError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_SIGNATURE', options)
    this.name = 'InvalidSignatureError'
  }
}

/** A node that is not UnixFS, or not valid UnixFS: another codec, not a UnixFS protobuf, sizes that disagree, an unsafe entry name. */
export class NotUnixFsError extends ShoalError {
  readonly cid: string

  constructor (cid: string, message = `Block "${cid}" is not a UnixFS node`, options?: ErrorOptions) {
    super(message, 'ERR_NOT_UNIXFS', options)
    this.name = 'NotUnixFsError'
    this.cid = cid
  }
}

/** `get` refused to write an entry: a name that is not a plain name, or a path that is (or goes through) a symlink. */
export class UnsafePathError extends ShoalError {
  constructor (message: string) {
    super(message, 'ERR_UNSAFE_PATH')
    this.name = 'UnsafePathError'
  }
}

/** A CAR (content archive) that cannot be read: not a CAR, cut short, a block over the size limit, or a block whose bytes do not match its CID. */
export class InvalidCarError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_CAR', options)
    this.name = 'InvalidCarError'
  }
}

/** A path below a CID (CID/dir/file) that names nothing in that DAG. */
export class PathNotFoundError extends ShoalError {
  readonly path: string

  constructor (path: string, message = `Nothing at "${path}"`, options?: ErrorOptions) {
    super(message, 'ERR_PATH_NOT_FOUND', options)
    this.name = 'PathNotFoundError'
    this.path = path
  }
}

/** unpin of a CID that is not a pin root; `pin ls CID` of a CID that no pin covers. */
export class NotPinnedError extends ShoalError {
  readonly cid: string

  constructor (cid: string, message = `Cannot unpin "${cid}": it is not pinned`) {
    super(message, 'ERR_NOT_PINNED')
    this.name = 'NotPinnedError'
    this.cid = cid
  }
}

// ---- replication ----

/** A write reached fewer confirmed replicas than its quorum; what was stored is kept. */
export class QuorumError extends ShoalError {
  readonly details: unknown

  constructor (message: string, details?: unknown) {
    super(message, 'ERR_QUORUM')
    this.name = 'QuorumError'
    this.details = details
  }
}

// ---- names (network) ----

/** A peer did not answer in time. */
export class TimeoutError extends ShoalError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_TIMEOUT', options)
    this.name = 'TimeoutError'
  }
}

/** A name with no live value (never written, or deleted). */
export class NameNotFoundError extends ShoalError {
  readonly key: string

  constructor (key: string, message = `Name "${key}" not found`) {
    super(message, 'ERR_NAME_NOT_FOUND')
    this.name = 'NameNotFoundError'
    this.key = key
  }
}

/** No replica of a name could be read. */
export class NameUnavailableError extends ShoalError {
  readonly key: string

  constructor (key: string, message: string) {
    super(message, 'ERR_NAME_UNAVAILABLE')
    this.name = 'NameUnavailableError'
    this.key = key
  }
}
