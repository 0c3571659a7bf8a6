/** The keys table's logic: a key's status, the filters and the sort, apart from the page that draws them. */
import {
  type KeyStatus as ApiKeyStatus,
  keyStatus as apiKeyStatus,
  type KeyDisplayStatus,
  keyDisplayStatus,
  lifecycleOfView,
} from "../../../src/vocab/key-status.mjs";
import type { KeyView } from "./types";

/** The badge's status: the API's, with "rotating" for an active key in a rotation's grace period. */
export type KeyStatus = KeyDisplayStatus;

const DAY_SECONDS = 86_400;

/** The status people see (src/vocab/key-status.mjs, as the CLI shows it). */
export function keyStatus(key: KeyView, now: number): KeyStatus {
  return keyDisplayStatus(lifecycleOfView(key), now);
}

/** The status the API's `?status=` filter sees (a rotating key is active): the status filters use it. */
export function filterStatus(key: KeyView, now: number): ApiKeyStatus {
  return apiKeyStatus(lifecycleOfView(key), now);
}

/** Still accepted by the gateway (active, or rotated within its grace period). */
export function isUsable(key: KeyView, now: number): boolean {
  return filterStatus(key, now) === "active";
}

export type KeyFilterKind = "all" | "active" | "revoked" | "expired" | "rotated" | "expiring" | "unused";

export interface KeyFilter {
  kind: KeyFilterKind;
  /** For "expiring" (within N days) and "unused" (not used for N days, or never). */
  days: number;
  /** Matches name, id or a scope, case-insensitively. */
  text: string;
}

export const DEFAULT_FILTER: KeyFilter = { kind: "all", days: 30, text: "" };

export function matchesFilter(key: KeyView, filter: KeyFilter, now: number): boolean {
  const text = filter.text.trim().toLowerCase();
  if (
    text &&
    !key.name.toLowerCase().includes(text) &&
    !key.id.toLowerCase().includes(text) &&
    !key.scopes.some((s) => s.toLowerCase().includes(text))
  ) {
    return false;
  }
  const horizon = filter.days * DAY_SECONDS;
  switch (filter.kind) {
    case "all":
      return true;
    // As the API's ?status=.
    case "active":
    case "revoked":
    case "expired":
    case "rotated":
      return filterStatus(key, now) === filter.kind;
    case "expiring":
      return isUsable(key, now) && key.expires_at !== null && key.expires_at - now <= horizon;
    case "unused":
      // As the API's ?unused_days=: never used, or last used more than N days ago.
      return key.last_used === null || key.last_used < now - horizon;
  }
}

export type SortColumn = "name" | "status" | "created_at" | "expires_at" | "last_used";
export type SortDirection = "ascending" | "descending";

export interface KeySort {
  column: SortColumn;
  direction: SortDirection;
}

export const DEFAULT_SORT: KeySort = { column: "created_at", direction: "descending" };

const STATUS_ORDER: Record<KeyStatus, number> = { active: 0, rotating: 1, expired: 2, rotated: 3, revoked: 4 };

/**
 * Nulls sort as "later than everything" for expiry (never expires) and as "earlier than
 * everything" for last use (never used), whatever the direction of the rest.
 */
function compare(a: KeyView, b: KeyView, column: SortColumn, now: number): number {
  switch (column) {
    case "name":
      return a.name.localeCompare(b.name, undefined, { sensitivity: "base", numeric: true });
    case "status":
      return STATUS_ORDER[keyStatus(a, now)] - STATUS_ORDER[keyStatus(b, now)];
    case "created_at":
      return a.created_at - b.created_at;
    case "expires_at":
      return (a.expires_at ?? Number.POSITIVE_INFINITY) - (b.expires_at ?? Number.POSITIVE_INFINITY) || 0;
    case "last_used":
      return (a.last_used ?? Number.NEGATIVE_INFINITY) - (b.last_used ?? Number.NEGATIVE_INFINITY) || 0;
  }
}

/** A sorted copy; ties keep the API's order (newest first), so the sort is stable and predictable. */
export function sortKeys(keys: readonly KeyView[], sort: KeySort, now: number): KeyView[] {
  const sign = sort.direction === "ascending" ? 1 : -1;
  return keys
    .map((key, index) => ({ key, index }))
    .sort((x, y) => {
      const c = compare(x.key, y.key, sort.column, now);
      // Infinity - Infinity is NaN: equal.
      return (Number.isNaN(c) ? 0 : c * sign) || x.index - y.index;
    })
    .map((x) => x.key);
}

/** Clicking a column header: same column flips the direction, a new one starts descending for times. */
export function nextSort(current: KeySort, column: SortColumn): KeySort {
  if (current.column === column) return { column, direction: current.direction === "ascending" ? "descending" : "ascending" };
  return { column, direction: column === "name" || column === "status" ? "ascending" : "descending" };
}
