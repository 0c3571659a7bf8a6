/** Wire shapes of the management API (docs/api.md, and the usage/alerts/webhooks additions). */

export interface RateLimit {
  name: string;
  limit: number;
  window_seconds: number;
}

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
  rate_limits?: RateLimit[];
  allowed_ips?: string[];
  exempt_from_unused_policy?: true;
  quota?: QuotaView;
  limit_group?: string;
}

/** A quota; `remaining`, `credited` and `resets_at` in one key's (or group's) view only (docs/quotas.md). */
export interface QuotaView {
  limit: number;
  period: QuotaPeriod;
  remaining?: number;
  credited?: number;
  resets_at?: number | null;
}

export interface LimitGroup {
  id: string;
  name: string;
  rate_limits?: RateLimit[];
  quota?: QuotaView;
  created_at: number;
  updated_at: number;
  keys?: { id: string; name: string }[];
}

export interface CreatedKey extends KeyView {
  api_key: string;
}

/** The window of the least-privilege report: whole UTC days, today included. */
export interface ReportWindow {
  days: number;
  from: number;
  to: number;
}

export interface ScopeUsageRow {
  scope: string;
  exercised: boolean;
  count: number;
  last_exercised: number | null;
  exercised_as?: string[];
}

/** GET .../api-keys/{id}/scope-usage */
export interface KeyScopeUsage {
  key_id: string;
  window: ReportWindow;
  scopes: ScopeUsageRow[];
  exercised_scopes: string[];
}

export interface ScopeReportEntry {
  key_id: string;
  name: string;
  created_at: number;
  last_used: number | null;
  unused: boolean;
  scopes: string[];
  unexercised_scopes: string[];
  exercised_scopes: string[];
}

/** GET .../scope-report */
export interface ScopeReport {
  window: ReportWindow;
  keys: ScopeReportEntry[];
}

export interface AuditEntry {
  id: string;
  at: number;
  actor_kind: string;
  actor_id: string | null;
  action: string;
  key_id: string | null;
  outcome: string;
  status: number;
  error: string | null;
  ip: string | null;
  user_agent: string | null;
}

export interface UsageBucket {
  start: number;
  total: number;
  outcomes: Record<string, number>;
}

export interface KeyUsage {
  key_id: string;
  granularity: "minute" | "hour" | "day";
  from: number;
  to: number;
  buckets: UsageBucket[];
  totals: { total: number; outcomes: Record<string, number> };
}

export interface KnownIp {
  ip: string;
  first_seen: number;
  last_seen: number;
  count: number;
  country: string | null;
}

export interface Alert {
  id: string;
  type: string;
  key_id: string | null;
  created_at: number;
  details: Record<string, unknown>;
  acknowledged_at: number | null;
}

export interface AlertSettings {
  volume_per_hour: number;
  new_ip: boolean;
  refusals_per_hour: number;
  expiring_within_days: number;
  unused_days: number;
  leak_action: string;
  quota_low_percent: number;
  /** The unused-key policy (0: off); absent from a keygate older than it. */
  revoke_unused_after_days?: number;
  unused_notice_days?: number;
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  created_at: number;
}

export interface CreatedWebhook extends Webhook {
  secret: string;
}

export interface WebhookDelivery {
  id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  status: DeliveryStatus;
  response_status: number | null;
  error: string | null;
  at: number;
  next_attempt_at: number | null;
}

/** One source with the worker's validation. */
export { ALERT_TYPES, WEBHOOK_EVENTS } from "../../../src/vocab/events.mjs";
export { QUOTA_PERIODS, type QuotaPeriod } from "../../../src/vocab/quotas.mjs";

import type { DeliveryStatus } from "../../../src/vocab/events.mjs";
import type { QuotaPeriod } from "../../../src/vocab/quotas.mjs";
import type { UsageOutcome } from "../../../src/vocab/usage.mjs";

/** Gateway outcomes of the usage API (src/vocab/usage.mjs), in the order the chart stacks them. */
export const OUTCOMES = [
  "accepted",
  "invalid",
  "expired",
  "revoked",
  "rotated",
  "insufficient_scope",
  "rate_limited",
  "ip_denied",
  "throttled",
  "bad_gateway",
  "gateway_timeout",
  "rate_limit_unavailable",
  "quota_exceeded",
] as const satisfies readonly UsageOutcome[];
