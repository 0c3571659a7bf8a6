/**
 * "Does this scope satisfy?" answered once, for the gateway's route rules, the management API and
 * the grant policy. A key may hold a catalog prefix wildcard (`deploy:*`): it stands for every
 * scope under that prefix (`deploy:staging`, `deploy:production`, `deploy:eu:blue`).
 */
import { ADMIN_ALL_SCOPE, type ScopeCatalog } from "../config/keys";

const WILDCARD_SUFFIX = ":*";

/** Whether `scope` is a prefix wildcard (`deploy:*`). */
export function isWildcard(scope: string): boolean {
  return scope.length > WILDCARD_SUFFIX.length && scope.endsWith(WILDCARD_SUFFIX);
}

/** Whether the wildcard `wildcard` covers `scope` (a scope under its prefix, or a narrower wildcard). */
function wildcardCovers(wildcard: string, scope: string): boolean {
  const prefix = wildcard.slice(0, -1); // "deploy:"
  return scope.length > prefix.length && scope.startsWith(prefix);
}

/** Whether holding `granted` amounts to holding `scope` (itself, or a wildcard over it); admin:all is not counted here. */
export function covers(granted: readonly string[], scope: string): boolean {
  if (granted.includes(scope)) return true;
  for (const held of granted) if (isWildcard(held) && wildcardCovers(held, scope)) return true;
  return false;
}

/**
 * The scope that satisfies a requirement of any one of `required`, or null: a required scope the
 * key holds itself first; else, through a wildcard or admin:all, the first required scope it covers
 * (what the rule asked for: the scope-usage report records that one).
 */
export function satisfyingScope(granted: readonly string[], required: readonly string[]): string | null {
  for (const scope of required) if (granted.includes(scope)) return scope;
  const admin = granted.includes(ADMIN_ALL_SCOPE);
  for (const scope of required) if (admin || covers(granted, scope)) return scope;
  return null;
}

/** Whether `granted` satisfies a requirement of any one of `required` (admin:all satisfies every requirement). */
export function satisfies(granted: readonly string[], required: readonly string[]): boolean {
  return satisfyingScope(granted, required) !== null;
}

/** Whether `scope` may be granted under `catalog`: a catalog scope, or a wildcard over at least one catalog scope. */
export function inCatalog(catalog: ScopeCatalog, scope: string): boolean {
  if (catalog.has(scope)) return true;
  if (!isWildcard(scope)) return false;
  for (const known of catalog.keys()) if (wildcardCovers(scope, known)) return true;
  return false;
}

/** The catalog scopes a held scope stands for: itself, or every catalog scope under a wildcard. */
export function expandScope(catalog: ScopeCatalog, scope: string): string[] {
  if (!isWildcard(scope)) return [scope];
  return [...catalog.keys()].filter((known) => !isWildcard(known) && wildcardCovers(scope, known));
}
