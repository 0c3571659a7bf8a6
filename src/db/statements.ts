/**
 * One SQL statement, two ways to run it: drizzle `sql` templates are what repositories write, and
 * this turns one into a raw D1 statement for transactions built with `d1.batch` (the usage roll-up),
 * so a statement used in both places is written once. (drizzle 0.45's own batch cannot take a raw
 * `sql` query with parameters, so transactions that mix builders and templates go through here.)
 * And the one helper that sizes statements to D1's bound-parameter limit.
 */
import type { SQL } from "drizzle-orm";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { D1_MAX_BOUND_PARAMETERS } from "../lib/platform-limits";

const dialect = new SQLiteAsyncDialect();

/** A drizzle `sql` template or query builder as a raw D1 statement. */
export function d1Statement(d1: D1Database, query: SQL | { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql, params } = "toSQL" in query ? query.toSQL() : dialect.sqlToQuery(query);
  return d1.prepare(sql).bind(...params);
}

/**
 * `items` in runs that fit one D1 statement: each item binds `perItem` parameters, and the
 * statement binds `fixedParams` others (`SET next_attempt_at = ?` next to an `IN (...)` list).
 * The one place an IN list or a multi-row VALUES is sized.
 */
export function boundChunks<T>(items: readonly T[], perItem = 1, fixedParams = 0): T[][] {
  const size = Math.floor((D1_MAX_BOUND_PARAMETERS - fixedParams) / perItem);
  if (size < 1) throw new RangeError(`${fixedParams} + ${perItem} bound parameters exceed D1's ${D1_MAX_BOUND_PARAMETERS}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** How many statements boundChunks makes of `n` items. */
export function boundStatements(n: number, perItem = 1, fixedParams = 0): number {
  return Math.ceil(n / Math.floor((D1_MAX_BOUND_PARAMETERS - fixedParams) / perItem));
}

/** `?, ?, ?` for an IN list of `n` parameters. */
export function placeholders(n: number): string {
  return Array(n).fill("?").join(", ");
}
