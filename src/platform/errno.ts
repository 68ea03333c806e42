/**
 * System errors (Node's `err.code`) in words a user can act on, for the
 * messages shoal prints instead of the runtime's own.
 */
const WORDS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another shoal daemon, or another program, listens there)',
  EADDRNOTAVAIL: 'that IP address is not one of this machine\'s',
  // (Deno reports an address that is not the machine's as EINVAL)
  EINVAL: 'the system refused it as invalid: is that IP address one of this machine\'s?',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EEXIST: 'it already exists',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the filesystem is read-only',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on this machine',
  ECONNREFUSED: 'nothing listens there',
  ENOTFOUND: 'the host name does not resolve'
}

/** The words for a system error code, or undefined when it is not one shoal knows. */
export function systemErrorWords (code: unknown): string | undefined {
  return typeof code === 'string' ? WORDS[code] : undefined
}

/** The system error code in an error, or in its message or text ("listen EADDRINUSE: ..."). */
export function systemErrorCode (err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code
  if (typeof code === 'string' && WORDS[code] != null) return code
  const match = /\b(E[A-Z]{3,})\b/.exec(typeof err === 'string' ? err : String((err as Error)?.message ?? ''))
  return match != null && WORDS[match[1]] != null ? match[1] : undefined
}
