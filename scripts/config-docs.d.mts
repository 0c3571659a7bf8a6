/** Types for scripts/config-docs.mjs (plain ESM run by Node without a build step). */
/** docs/configuration.md's path. */
export const CONFIG_DOC: string;
/** The generated table of vars and secrets (markdown), from src/config/vars.ts. */
export function renderConfigTable(): string;
/** `text` with the region between the config-table markers replaced by the generated table. */
export function withConfigTable(text: string): string;
