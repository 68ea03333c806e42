/**
 * The daemon's one logger: levels, text or JSON lines. It does not print by
 * itself; the caller (the CLI) gives it a `write` sink.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
  child(component: string): Logger
}

export interface LoggerInit {
  level?: LogLevel
  json?: boolean
  component?: string
  write?(line: string): void
  now?(): Date
}

export function isLogLevel (value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value)
}

export function createLogger (init: LoggerInit = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(init.level ?? 'info')
  const write = init.write ?? (() => {})
  const now = init.now ?? (() => new Date())

  const log = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (LOG_LEVELS.indexOf(level) < threshold) return
    const time = now().toISOString()
    if (init.json === true) {
      write(JSON.stringify({ time, level, component: init.component, msg: message, ...fields }) + '\n')
      return
    }
    const extra = fields == null
      ? ''
      : Object.entries(fields).map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join('')
    const component = init.component != null ? ` ${init.component}:` : ''
    write(`${time} ${level.toUpperCase().padEnd(5)}${component} ${message}${extra}\n`)
  }

  return {
    debug: (m, f) => { log('debug', m, f) },
    info: (m, f) => { log('info', m, f) },
    warn: (m, f) => { log('warn', m, f) },
    error: (m, f) => { log('error', m, f) },
    child: (component) => createLogger({ ...init, component: init.component == null ? component : `${init.component}:${component}` })
  }
}

export const silentLogger: Logger = createLogger({ level: 'silent' })
