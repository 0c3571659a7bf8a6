import { describe, expect, it } from "vitest";
import { DEFAULT_FILTER, type KeyFilter, keyStatus, matchesFilter, nextSort, sortKeys } from "../src/lib/keys-table";
import type { KeyView } from "../src/lib/types";

const NOW = 1_800_000_000;
const DAY = 86_400;

function key(id: string, fields: Partial<KeyView> = {}): KeyView {
  return {
    id,
    name: id,
    scopes: ["api:read"],
    created_at: NOW - 10 * DAY,
    expires_at: NOW + 90 * DAY,
    last_used: null,
    revoked: false,
    ...fields,
  };
}

const keys = [
  key("fresh", { created_at: NOW - DAY, last_used: NOW - 60 }),
  key("expiring", { expires_at: NOW + 3 * DAY, last_used: NOW - 40 * DAY }),
  key("forever", { expires_at: null, last_used: NOW - 2 * DAY, scopes: ["deploy:production"] }),
  key("expired", { expires_at: NOW - DAY }),
  key("revoked", { revoked: true, revoked_at: NOW - DAY, expires_at: NOW + DAY }),
  key("rotating", { replaced_by: "key-new", grace_period_ends_at: NOW + 3600 }),
  key("rotated", { replaced_by: "key-new2", grace_period_ends_at: NOW - 3600 }),
];
const names = (list: KeyView[]) => list.map((k) => k.id);
const filtered = (f: Partial<KeyFilter>) => names(keys.filter((k) => matchesFilter(k, { ...DEFAULT_FILTER, ...f }, NOW)));

describe("key status", () => {
  it("follows the API's status rules, with the grace period shown", () => {
    expect(keys.map((k) => keyStatus(k, NOW))).toEqual(["active", "active", "active", "expired", "revoked", "rotating", "rotated"]);
  });
});

describe("filters", () => {
  it("by status, as the API's ?status= (a key in its grace period is active)", () => {
    expect(filtered({ kind: "all" })).toHaveLength(keys.length);
    expect(filtered({ kind: "active" })).toEqual(["fresh", "expiring", "forever", "rotating"]);
    expect(filtered({ kind: "revoked" })).toEqual(["revoked"]);
    expect(filtered({ kind: "expired" })).toEqual(["expired"]);
    expect(filtered({ kind: "rotated" })).toEqual(["rotated"]);
  });

  it("expiring within N days counts only keys that still work", () => {
    expect(filtered({ kind: "expiring", days: 7 })).toEqual(["expiring"]);
    expect(filtered({ kind: "expiring", days: 0 })).toEqual([]);
    expect(filtered({ kind: "expiring", days: 100 })).toEqual(["fresh", "expiring", "rotating"]);
  });

  it("unused for N days means never used or last used before then, as the API's unused_days", () => {
    expect(filtered({ kind: "unused", days: 30 })).toEqual(["expiring", "expired", "revoked", "rotating", "rotated"]);
    expect(filtered({ kind: "unused", days: 1 })).toEqual(["expiring", "forever", "expired", "revoked", "rotating", "rotated"]);
  });

  it("text matches name, id or scope, case-insensitively", () => {
    expect(filtered({ text: "DEPLOY" })).toEqual(["forever"]);
    expect(filtered({ text: "  rot " })).toEqual(["rotating", "rotated"]);
  });
});

describe("sort", () => {
  it("never-expiring keys sort after every expiry; never-used keys before every use", () => {
    expect(names(sortKeys(keys, { column: "expires_at", direction: "ascending" }, NOW))).toEqual([
      "expired",
      "revoked",
      "expiring",
      "fresh",
      "rotating",
      "rotated",
      "forever",
    ]);
    expect(names(sortKeys(keys, { column: "last_used", direction: "descending" }, NOW)).slice(0, 3)).toEqual([
      "fresh",
      "forever",
      "expiring",
    ]);
  });

  it("is stable: ties keep the API's order", () => {
    expect(names(sortKeys(keys, { column: "created_at", direction: "ascending" }, NOW))).toEqual([
      "expiring",
      "forever",
      "expired",
      "revoked",
      "rotating",
      "rotated",
      "fresh",
    ]);
    expect(names(sortKeys(keys, { column: "status", direction: "ascending" }, NOW))).toEqual([
      "fresh",
      "expiring",
      "forever",
      "rotating",
      "expired",
      "rotated",
      "revoked",
    ]);
  });

  it("sorts names naturally and does not change its input", () => {
    const list = [key("b"), key("a10"), key("A2")];
    expect(names(sortKeys(list, { column: "name", direction: "ascending" }, NOW))).toEqual(["A2", "a10", "b"]);
    expect(names(list)).toEqual(["b", "a10", "A2"]);
  });

  it("a header click flips the same column, and starts a new one in its natural direction", () => {
    expect(nextSort({ column: "name", direction: "ascending" }, "name")).toEqual({ column: "name", direction: "descending" });
    expect(nextSort({ column: "name", direction: "ascending" }, "last_used")).toEqual({ column: "last_used", direction: "descending" });
    expect(nextSort({ column: "last_used", direction: "descending" }, "status")).toEqual({ column: "status", direction: "ascending" });
  });
});
