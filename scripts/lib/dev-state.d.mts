/** Types for dev-state.mjs (plain ESM run by Node without a build step). */
export const ROOT: string;
/** Writes the dev keys `npm run dev` needs into .dev.vars (and .keygate/) where they are missing; returns what it generated. */
export function ensureDevKeys(): string[];
