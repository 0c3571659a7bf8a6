/** The drizzle schema (src/db/schema.ts) and the migrations D1 runs must describe the same tables. */
import { env } from "cloudflare:workers";
import { getTableColumns, getTableName, is } from "drizzle-orm";
import { SQLiteTable } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import * as schema from "../../src/db/schema";

const tables = (Object.values(schema) as unknown[]).filter((v): v is SQLiteTable => is(v, SQLiteTable));

describe("schema and migrations", () => {
  it("declare every table", () => {
    expect(tables.length).toBeGreaterThanOrEqual(12);
  });

  for (const table of tables) {
    it(`agree on the columns of ${getTableName(table)}`, async () => {
      const { results } = await env.DB.prepare(`PRAGMA table_info(${getTableName(table)})`).all<{
        name: string;
        notnull: number;
        pk: number;
      }>();
      // Required: NOT NULL, or part of the primary key.
      const inDb = Object.fromEntries(results.map((c) => [c.name, c.notnull === 1 || c.pk > 0]));
      const inSchema = Object.fromEntries(Object.values(getTableColumns(table)).map((c) => [c.name, c.notNull || c.primary]));
      expect(inSchema).toEqual(inDb);
    });
  }
});
