/**
 * "Is this key usable?" answered once. A key is revoked, expired (past its own `exp`), rotated
 * (past the cut-off of a rotation's grace period) or active; the list filter, the management-key
 * check, introspection and the reconciler all ask here (the list filter as SQL in db/keys-repo).
 */
import type { ApiKeyRow } from "../db/schema";

export const KEY_STATUSES = ["active", "revoked", "expired", "rotated"] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

export function keyStatus(row: Pick<ApiKeyRow, "revoked" | "expiresAt" | "rotationCutoffAt">, now: number): KeyStatus {
  if (row.revoked) return "revoked";
  if (row.expiresAt !== null && row.expiresAt <= now) return "expired";
  if (row.rotationCutoffAt !== null && row.rotationCutoffAt <= now) return "rotated";
  return "active";
}
