import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Db = ReturnType<typeof database>;

const clients = new WeakMap<D1Database, ReturnType<typeof drizzle<typeof schema>>>();

/** The drizzle client over a D1 binding, built once per binding. */
export function database(d1: D1Database) {
  let db = clients.get(d1);
  if (!db) {
    db = drizzle(d1, { schema });
    clients.set(d1, db);
  }
  return db;
}
