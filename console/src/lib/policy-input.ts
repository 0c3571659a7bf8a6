/**
 * The text a person types for a key's limits, allowlist, quota and limit group, to and from the API's
 * fields. Syntax only, as the CLI's parsers: the API checks bounds and names the field that is wrong.
 * Rate limits are one per line, `name=limit/window` (`burst=100/60s`, `daily=10000/1d`); the
 * allowlist is one address or CIDR block per line.
 */
import { QUOTA_PERIODS, type QuotaPeriod, type QuotaView, type RateLimit } from "./types";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** What the policy inputs hold. */
export interface PolicyDraft {
  rateLimits: string;
  allowedIps: string;
  /** Empty: no quota. */
  quotaLimit: string;
  quotaPeriod: QuotaPeriod;
  /** Empty: no group. */
  limitGroup: string;
}

export const EMPTY_POLICY: PolicyDraft = { rateLimits: "", allowedIps: "", quotaLimit: "", quotaPeriod: "month", limitGroup: "" };

function windowText(seconds: number): string {
  for (const unit of ["d", "h", "m"]) {
    const size = UNIT_SECONDS[unit] as number;
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** The inputs for a key as it is (rotate and edit start from it). */
export function draftOf(key: { rate_limits?: RateLimit[]; allowed_ips?: string[]; quota?: QuotaView; limit_group?: string }): PolicyDraft {
  return {
    rateLimits: (key.rate_limits ?? []).map((l) => `${l.name}=${l.limit}/${windowText(l.window_seconds)}`).join("\n"),
    allowedIps: (key.allowed_ips ?? []).join("\n"),
    quotaLimit: key.quota ? String(key.quota.limit) : "",
    quotaPeriod: key.quota?.period ?? "month",
    limitGroup: key.limit_group ?? "",
  };
}

function lines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** Rate limits from their lines; throws an Error naming the line that is not `name=limit/window`. */
export function parseRateLimits(text: string): RateLimit[] {
  return lines(text).map((line, i) => {
    const match = /^([^=\s]+)\s*=\s*(\d+)\s*\/\s*(\d+)([smhd]?)$/.exec(line);
    if (!match) throw new Error(`Rate limit line ${i + 1} ("${line}") is not name=limit/window, e.g. burst=100/60s`);
    const [, name = "", limit = "", count = "", unit = ""] = match;
    return { name, limit: Number(limit), window_seconds: Number(count) * (UNIT_SECONDS[unit || "s"] as number) };
  });
}

export interface PolicyFields {
  rate_limits?: RateLimit[] | null;
  allowed_ips?: string[] | null;
  quota?: { limit: number; period: QuotaPeriod } | null;
  limit_group?: string | null;
}

/** Every policy field from the inputs (an empty input: none). */
export function policyFields(draft: PolicyDraft): Required<PolicyFields> {
  const limits = parseRateLimits(draft.rateLimits);
  const ips = lines(draft.allowedIps);
  const quotaText = draft.quotaLimit.trim();
  if (quotaText !== "" && !/^\d+$/.test(quotaText)) throw new Error("The quota must be a whole number of calls");
  if (!QUOTA_PERIODS.includes(draft.quotaPeriod)) throw new Error(`The quota period must be one of ${QUOTA_PERIODS.join(", ")}`);
  return {
    rate_limits: limits.length > 0 ? limits : null,
    allowed_ips: ips.length > 0 ? ips : null,
    quota: quotaText === "" ? null : { limit: Number(quotaText), period: draft.quotaPeriod },
    limit_group: draft.limitGroup === "" ? null : draft.limitGroup,
  };
}

/** For create: only the fields that hold something (an omitted field is the API's default). */
export function createFields(draft: PolicyDraft): PolicyFields {
  return Object.fromEntries(Object.entries(policyFields(draft)).filter(([, v]) => v !== null));
}

/** For edit (PATCH) and rotate: only the fields that differ from the key's (null removes one). */
export function changedFields(draft: PolicyDraft, original: PolicyDraft): PolicyFields {
  const now = policyFields(draft);
  const before = policyFields(original);
  const out: PolicyFields = {};
  for (const field of Object.keys(now) as (keyof PolicyFields)[]) {
    if (JSON.stringify(now[field]) !== JSON.stringify(before[field])) (out as Record<string, unknown>)[field] = now[field];
  }
  return out;
}
