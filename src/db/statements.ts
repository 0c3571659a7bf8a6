/**
 * How keygate talks to D1, in one place.
 *
 * Style. Repositories (db/*-repo.ts, and the services that own a table) write drizzle: the query
 * builder for plain reads and writes, `sql` templates where the builder cannot say it (INSERT ...
 * SELECT ... WHERE, RETURNING into another statement, json_each). A raw D1 statement is allowed in
 * two cases only: inside a transaction built with `d1.batch` (write the statement as drizzle and
 * turn it into a raw one with `d1Statement`: drizzle 0.45's own batch cannot take a raw `sql`
 * query with parameters), and multi-row statements over a JSON parameter (`multiRow`, and SQL
 * assembled from column expressions, like the outbox's). Modules older than this rule still
 * prepare raw SQL elsewhere (grep `.prepare(`); new code does not.
 *
 * Chunking. A statement takes many values one of two ways, and every list is cut with `chunks`
 * (and counted with `statementsFor`) under one of two sizings:
 * - `boundParameters(perItem, fixed)`: the values are bound parameters (drizzle's builder binds
 *   every value: an `or(...)` of row keys, a multi-row `values(...)`), so a statement takes as many
 *   as D1_MAX_BOUND_PARAMETERS (lib/platform-limits.ts) allows;
 * - `jsonRows(rows)`: the values travel as one JSON parameter read with json_each (an IN list, a
 *   VALUES list), `rows` per statement: what raw SQL over a long list uses.
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

/** The `id` column of the rows a `RETURNING id` statement produced (a batch result or a drizzle row list). */
export function returnedIds(result: D1Result | unknown[]): string[] {
  const rows = Array.isArray(result) ? result : (result.results ?? []);
  return (rows as { id?: unknown }[]).flatMap((row) => (typeof row.id === "string" ? [row.id] : []));
}

/** How many values one statement takes; made by `boundParameters` or `jsonRows`. */
export interface Chunking {
  readonly perStatement: number;
}

/**
 * Values as bound parameters: each item binds `perItem`, and the statement binds `fixed` others
 * (`SET x = ?` next to an IN list).
 */
export function boundParameters(perItem = 1, fixed = 0): Chunking {
  const perStatement = Math.floor((D1_MAX_BOUND_PARAMETERS - fixed) / perItem);
  if (perStatement < 1) throw new RangeError(`${fixed} + ${perItem} bound parameters exceed D1's ${D1_MAX_BOUND_PARAMETERS}`);
  return { perStatement };
}

/**
 * Rows per JSON parameter by default. Bound parameters made a batch of 2,000 distinct keys about
 * 1,300 statements, over the 1,000 queries of one invocation; a D1 value may be 2 MB
 * (D1_MAX_ROW_BYTES) and a row here is under 200 bytes.
 */
export const JSON_ROWS_PER_STATEMENT = 2_000;

/** Values as one JSON parameter (json_each), `rows` per statement. */
export function jsonRows(rows = JSON_ROWS_PER_STATEMENT): Chunking {
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`${rows} rows per statement`);
  return { perStatement: rows };
}

/** `items` in runs that fit one statement each. */
export function chunks<T>(items: readonly T[], how: Chunking): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += how.perStatement) out.push(items.slice(i, i + how.perStatement));
  return out;
}

/** How many statements `chunks` makes of `n` items. */
export function statementsFor(n: number, how: Chunking): number {
  return Math.ceil(n / how.perStatement);
}

/** `chunks` as JSON text, each the one parameter of an `IN (SELECT value FROM json_each(?))`. */
export function jsonChunks(values: readonly unknown[], how: Chunking = jsonRows()): string[] {
  return chunks(values, how).map((chunk) => JSON.stringify(chunk));
}

/** `SELECT json_extract(value, '$[0]') AS column1, ...`: the columns VALUES would name. */
export function jsonColumns(width: number): string {
  return Array.from({ length: width }, (_, i) => `json_extract(value, '$[${i}]') AS column${i + 1}`).join(", ");
}

/**
 * Multi-row statements: `head` SELECT <the rows' columns> FROM json_each(?) WHERE true `tail`, where
 * a VALUES list would go (an INSERT's rows, or a FROM (...) subquery); WHERE true keeps an INSERT's
 * ON CONFLICT unambiguous. One statement per chunk of rows, one bound parameter each.
 */
export function multiRow(d1: D1Database, head: string, tail: string, rows: unknown[][], how: Chunking = jsonRows()): D1PreparedStatement[] {
  if (rows.length === 0) return [];
  const columns = jsonColumns(rows[0]?.length ?? 1);
  return jsonChunks(rows, how).map((json) => d1.prepare(`${head} SELECT ${columns} FROM json_each(?) WHERE true ${tail}`).bind(json));
}
