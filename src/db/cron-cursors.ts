/** Positions of the cron tasks that walk all keys a page per run (table cron_cursors). */
import { eq } from "drizzle-orm";
import type { Db } from "./client";
import { cronCursors } from "./schema";

/** The task's saved position, or undefined when it starts from the beginning. */
export async function readCronCursor(db: Db, name: string): Promise<string | undefined> {
  const row = await db.select({ cursor: cronCursors.cursor }).from(cronCursors).where(eq(cronCursors.name, name)).get();
  return row?.cursor;
}

export async function writeCronCursor(db: Db, name: string, cursor: string, now: number): Promise<void> {
  await db
    .insert(cronCursors)
    .values({ name, cursor, updatedAt: now })
    .onConflictDoUpdate({ target: cronCursors.name, set: { cursor, updatedAt: now } });
}
