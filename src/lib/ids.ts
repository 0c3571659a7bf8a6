/**
 * The ids keygate mints, in one place: `<prefix>-<random UUID>` (RFC 9562 version 4, lower case,
 * as crypto.randomUUID() writes it). A path id that is not of this form names nothing keygate
 * made, so it is refused (404) before it is looked up or stored anywhere, the audit log included.
 */

/** Ids that appear in management paths (`{id}`); the record ids below are never looked up by path. */
export const ID_PREFIXES = {
  key: "key",
  webhook: "wh",
  alert: "alert",
  /** A limit group (issue 19): a shared budget of keys. */
  group: "grp",
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

/** What each kind of id names, as error messages say it ("API key not found"). */
export const ID_NOUNS: Readonly<Record<IdKind, string>> = { key: "API key", webhook: "Webhook", alert: "Alert", group: "Limit group" };

const UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";
const ID_PATTERNS = Object.fromEntries(
  Object.entries(ID_PREFIXES).map(([kind, prefix]) => [kind, new RegExp(`^${prefix}-${UUID_PATTERN}$`)]),
) as Record<IdKind, RegExp>;

/** A fresh id of `kind`. */
export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}-${crypto.randomUUID()}`;
}

/** Whether `text` is an id of `kind` as keygate mints them. */
export function isId(kind: IdKind, text: string): boolean {
  return ID_PATTERNS[kind].test(text);
}

/** The pattern of an id of `kind`, for documents (OpenAPI). */
export function idPattern(kind: IdKind): string {
  return ID_PATTERNS[kind].source;
}

/**
 * Ids of records that no path names, so nothing validates them on the way in: audit entries,
 * webhook events (the payload's `id`, a delivery's `event_id`) and webhook deliveries (minted in SQL
 * by the outbox, `dlv-` and 32 hex digits). Audit entries written before issue #21 have `evt-` ids
 * like events; they keep them, and nothing reads the prefix of an audit id.
 */
export const RECORD_ID_PREFIXES = {
  auditEntry: "aud",
  event: "evt",
  delivery: "dlv",
} as const;

/** A fresh id of a record kind. */
export function newRecordId(kind: keyof typeof RECORD_ID_PREFIXES): string {
  return `${RECORD_ID_PREFIXES[kind]}-${crypto.randomUUID()}`;
}
