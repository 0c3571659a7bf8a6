/**
 * One SQL statement, two ways to run it: drizzle `sql` templates are what repositories write, and
 * this turns one into a raw D1 statement for transactions built with `d1.batch` (the usage roll-up),
 * so a statement used in both places is written once. (drizzle 0.45's own batch cannot take a raw
 * `sql` query with parameters, so transactions that mix builders and templates go through here.)
 */
import type { SQL } from "drizzle-orm";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";

const dialect = new SQLiteAsyncDialect();

/** A drizzle `sql` template or query builder as a raw D1 statement. */
export function d1Statement(d1: D1Database, query: SQL | { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql, params } = "toSQL" in query ? query.toSQL() : dialect.sqlToQuery(query);
  return d1.prepare(sql).bind(...params);
}
