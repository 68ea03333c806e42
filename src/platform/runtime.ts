interface DenoGlobal { version: { deno: string } }

const deno = (globalThis as { Deno?: DenoGlobal }).Deno

export const isDeno = deno != null

/** e.g. "node v24.21.0" or "deno 2.9.5" */
export function runtimeDescription (): string {
  return deno != null ? `deno ${deno.version.deno}` : `node ${process.version}`
}
