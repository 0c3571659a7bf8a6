// @ts-check
/**
 * "Is this key usable?" answered once, for the worker, the console and the CLI. A key is revoked,
 * expired (past its own `exp`), rotated (past the cut-off of a rotation's grace period) or active,
 * in that order of precedence (README, `?status=`): a revoked key that has also expired is
 * revoked, an expired key that was also rotated is expired.
 *
 * One table (STATUS_CONDITIONS) says what each status means; the function (`keyStatus`) and the
 * SQL predicate (`keyStatusSql`, the list endpoint's `?status=` and the cron's detectors) are both
 * read from it, and test/vocab/key-status.test.ts checks that they agree with each other and
 * with the console and the CLI on every combination.
 *
 * Why plain JavaScript with JSDoc types (`// @ts-check`): the CLI runs on the user's Node (>= 20.19,
 * no type stripping) straight from the package (package.json "files" ships src/vocab/), the worker
 * and the console import the same file (tsconfig `allowJs`), so the vocabulary has one text and
 * no generated copy that could go stale. No imports: a leaf every layer may use.
 */

/** The statuses of `?status=`, in the API's order. */
export const KEY_STATUSES = /** @type {const} */ (["active", "revoked", "expired", "rotated"]);
/** @typedef {(typeof KEY_STATUSES)[number]} KeyStatus */

/**
 * What people see (console badge, CLI column): the four statuses, and "rotating" for an active key
 * that has been rotated and still works until its grace period ends (`?status=active` lists it).
 */
export const KEY_DISPLAY_STATUSES = /** @type {const} */ (["active", "rotating", "expired", "rotated", "revoked"]);
/** @typedef {(typeof KEY_DISPLAY_STATUSES)[number]} KeyDisplayStatus */

/**
 * The three facts a status is decided from, as the row holds them (unix seconds).
 * @typedef {{ revoked: boolean, expiresAt: number | null, rotationCutoffAt: number | null }} KeyLifecycle
 */

/**
 * The facts, each true or false of a key at `now`: revoked; past its own expiry; past the cut-off
 * of a rotation.
 * @typedef {"revoked" | "expired" | "cutOff"} KeyFact
 */

/**
 * What each status means, checked in this order (the first that holds is the key's status). Each
 * condition is a list of facts with the value they must have.
 * @type {ReadonlyArray<readonly [KeyStatus, ReadonlyArray<readonly [KeyFact, boolean]>]>}
 */
const STATUS_CONDITIONS = [
  ["revoked", [["revoked", true]]],
  [
    "expired",
    [
      ["revoked", false],
      ["expired", true],
    ],
  ],
  [
    "rotated",
    [
      ["revoked", false],
      ["expired", false],
      ["cutOff", true],
    ],
  ],
  [
    "active",
    [
      ["revoked", false],
      ["expired", false],
      ["cutOff", false],
    ],
  ],
];

/**
 * @param {KeyLifecycle} key
 * @param {KeyFact} fact
 * @param {number} now
 */
function holds(key, fact, now) {
  switch (fact) {
    case "revoked":
      return key.revoked;
    case "expired":
      return key.expiresAt !== null && key.expiresAt <= now;
    case "cutOff":
      return key.rotationCutoffAt !== null && key.rotationCutoffAt <= now;
  }
}

/**
 * The key's status at `now` (unix seconds).
 * @param {KeyLifecycle} key
 * @param {number} now
 * @returns {KeyStatus}
 */
export function keyStatus(key, now) {
  for (const [status, conditions] of STATUS_CONDITIONS) {
    if (conditions.every(([fact, value]) => holds(key, fact, now) === value)) return status;
  }
  // Unreachable: "active" is the negation of the three others' facts.
  throw new Error("keyStatus: no status matched");
}

/**
 * The status people see: `keyStatus`, with an active key in a rotation's grace period "rotating".
 * @param {KeyLifecycle} key
 * @param {number} now
 * @returns {KeyDisplayStatus}
 */
export function keyDisplayStatus(key, now) {
  const status = keyStatus(key, now);
  return status === "active" && key.rotationCutoffAt !== null ? "rotating" : status;
}

/**
 * The facts of a key object as the API sends it (`grace_period_ends_at` is the rotation cut-off).
 * @param {{ revoked: boolean, expires_at: number | null, grace_period_ends_at?: number | undefined }} view
 * @returns {KeyLifecycle}
 */
export function lifecycleOfView(view) {
  return { revoked: view.revoked, expiresAt: view.expires_at, rotationCutoffAt: view.grace_period_ends_at ?? null };
}

/**
 * Each fact as SQL over api_keys' columns (`revoked` is 0/1); NOW stands for the bound `now`.
 * @type {Record<KeyFact, { true: string, false: string }>}
 */
const FACT_SQL = {
  revoked: { true: "{t}revoked = 1", false: "{t}revoked = 0" },
  expired: {
    true: "({t}expires_at IS NOT NULL AND {t}expires_at <= NOW)",
    false: "({t}expires_at IS NULL OR {t}expires_at > NOW)",
  },
  cutOff: {
    true: "({t}rotation_cutoff_at IS NOT NULL AND {t}rotation_cutoff_at <= NOW)",
    false: "({t}rotation_cutoff_at IS NULL OR {t}rotation_cutoff_at > NOW)",
  },
};

/**
 * The SQL condition that holds exactly for keys with `status`, over api_keys' columns qualified by
 * `qualifier` (say "k." or ""), as the text between the places `now` is to be bound: join the parts
 * with a placeholder bound to `now` (drizzle: `sql.join` with `sql\`${now}\``; D1: `parts.join("?1")`).
 * @param {KeyStatus} status
 * @param {string} [qualifier]
 * @returns {string[]}
 */
export function keyStatusSql(status, qualifier = "") {
  const entry = STATUS_CONDITIONS.find(([s]) => s === status);
  if (!entry) throw new Error(`keyStatusSql: unknown status ${status}`);
  const text = entry[1].map(([fact, value]) => FACT_SQL[fact][value ? "true" : "false"]).join(" AND ");
  return `(${text})`.replaceAll("{t}", qualifier).split("NOW");
}

/**
 * `keyStatusSql` for a display status: "active" is an active key not in a rotation, "rotating" an
 * active key in one (the cron's detectors watch only the former: a key being replaced is not
 * warned about, its replacement is).
 * @param {KeyDisplayStatus} status
 * @param {string} [qualifier]
 * @returns {string[]}
 */
export function keyDisplayStatusSql(status, qualifier = "") {
  if (status !== "active" && status !== "rotating") return keyStatusSql(status, qualifier);
  const parts = keyStatusSql("active", qualifier);
  const last = parts.length - 1;
  parts[last] = `${parts[last]} AND ${qualifier}rotation_cutoff_at IS ${status === "active" ? "NULL" : "NOT NULL"}`;
  return parts;
}
