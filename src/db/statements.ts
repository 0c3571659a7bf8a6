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

/** The `id` column of the rows a `RETURNING id` statement produced (a batch result or a drizzle row list). */
export function returnedIds(result: D1Result | unknown[]): string[] {
  const rows = Array.isArray(result) ? result : (result.results ?? []);
  return (rows as { id?: unknown }[]).flatMap((row) => (typeof row.id === "string" ? [row.id] : []));
}

/** `?, ?, ?` for an IN list of `n` parameters. */
export function placeholders(n: number): string {
  return Array(n).fill("?").join(", ");
}

/**
 * Rows per multi-row statement. The rows travel as one JSON parameter (json_each), not as bound
 * parameters: D1 binds at most 100 per statement, which made a batch of 2,000 distinct keys about
 * 1,300 statements, over the 1,000 queries of one invocation. A value may be 2 MB; a row here is
 * under 200 bytes.
 */
export const JSON_ROWS_PER_STATEMENT = 2_000;

/** `SELECT json_extract(value, '$[0]') AS column1, ...`: the columns VALUES would name. */
export function jsonColumns(width: number): string {
  return Array.from({ length: width }, (_, i) => `json_extract(value, '$[${i}]') AS column${i + 1}`).join(", ");
}

/**
 * Multi-row statements: `head` SELECT <the rows' columns> FROM json_each(?) WHERE true `tail`, where
 * a VALUES list would go (an INSERT's rows, or a FROM (...) subquery); WHERE true keeps an INSERT's
 * ON CONFLICT unambiguous. One statement per JSON_ROWS_PER_STATEMENT rows, one bound parameter each.
 */
export function multiRow(d1: D1Database, head: string, tail: string, rows: unknown[][]): D1PreparedStatement[] {
  if (rows.length === 0) return [];
  const columns = jsonColumns(rows[0]?.length ?? 1);
  const out: D1PreparedStatement[] = [];
  for (let i = 0; i < rows.length; i += JSON_ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + JSON_ROWS_PER_STATEMENT);
    out.push(d1.prepare(`${head} SELECT ${columns} FROM json_each(?) WHERE true ${tail}`).bind(JSON.stringify(chunk)));
  }
  return out;
}

/** Chunks of JSON_ROWS_PER_STATEMENT, each as the one JSON parameter of an `IN (SELECT ... FROM json_each(?))`. */
export function jsonChunks(values: unknown[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; i += JSON_ROWS_PER_STATEMENT) out.push(JSON.stringify(values.slice(i, i + JSON_ROWS_PER_STATEMENT)));
  return out;
}

/** Statements for `n` rows in chunks of `per` (one JSON parameter each). */
export function jsonStatements(n: number, per = JSON_ROWS_PER_STATEMENT): number {
  return Math.ceil(n / per);
}
