/**
 * The wire shape of a key. The seed's fields come first and are always present; fields beyond the
 * seed (metadata, rotation links, revocation time) appear only when they carry a value, so a
 * client written against the seed sees exactly the seed's objects.
 */
import type { ApiKeyRow } from "../db/schema";

export interface KeyView {
  id: string;
  name: string;
  scopes: string[];
  created_at: number;
  expires_at: number | null;
  last_used: number | null;
  revoked: boolean;
  revoked_at?: number;
  metadata?: Record<string, unknown>;
  rotated_from?: string;
  replaced_by?: string;
  grace_period_ends_at?: number;
}

export interface CreatedKeyView {
  id: string;
  name: string;
  api_key: string;
  scopes: string[];
  created_at: number;
  expires_at: number | null;
  last_used: null;
  revoked: false;
  rotated_from?: string;
}

export function keyView(row: ApiKeyRow): KeyView {
  const view: KeyView = {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    created_at: row.createdAt,
    expires_at: row.expiresAt,
    last_used: row.lastUsed,
    revoked: row.revoked,
  };
  if (row.revoked && row.revokedAt !== null) view.revoked_at = row.revokedAt;
  if (row.metadata !== null && Object.keys(row.metadata).length > 0) view.metadata = row.metadata;
  if (row.rotatedFrom !== null) view.rotated_from = row.rotatedFrom;
  if (row.replacedBy !== null) view.replaced_by = row.replacedBy;
  if (row.rotationCutoffAt !== null) view.grace_period_ends_at = row.rotationCutoffAt;
  return view;
}

export function createdKeyView(
  row: Pick<ApiKeyRow, "id" | "name" | "scopes" | "createdAt" | "expiresAt" | "rotatedFrom">,
  apiKey: string,
): CreatedKeyView {
  const view: CreatedKeyView = {
    id: row.id,
    name: row.name,
    api_key: apiKey,
    scopes: row.scopes,
    created_at: row.createdAt,
    expires_at: row.expiresAt,
    last_used: null,
    revoked: false,
  };
  if (row.rotatedFrom) view.rotated_from = row.rotatedFrom;
  return view;
}
