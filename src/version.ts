import pkg from '../package.json' with { type: 'json' }

/** shoal's version, from package.json (bundled into the single binary). */
export const VERSION: string = pkg.version
