/** Small views of a key shared by the table and the key page. */

import { duration } from "../lib/format";
import type { KeyStatus } from "../lib/keys-table";
import type { KeyView } from "../lib/types";

const STATUS_TEXT: Record<KeyStatus, string> = {
  active: "Active",
  rotating: "Rotated, in grace period",
  rotated: "Rotated",
  revoked: "Revoked",
  expired: "Expired",
};

export function StatusBadge({ status }: { status: KeyStatus }) {
  return <span class={`badge badge-${status}`}>{STATUS_TEXT[status]}</span>;
}

/** Rate limits and the IP allowlist, when the key has them (they appear on key objects only when set). */
export function KeyLimits({ apiKey }: { apiKey: KeyView }) {
  const limits = apiKey.rate_limits ?? [];
  const ips = apiKey.allowed_ips ?? [];
  const quota = apiKey.quota;
  if (limits.length === 0 && ips.length === 0 && !quota && !apiKey.limit_group) return <span class="muted">none</span>;
  return (
    <ul class="limits">
      {limits.map((l) => (
        <li key={l.name}>
          {l.limit.toLocaleString()} per {duration(l.window_seconds)} <span class="muted">({l.name})</span>
        </li>
      ))}
      {quota ? (
        <li>
          {quota.limit.toLocaleString()} calls {quota.period === "none" ? "in all" : `per ${quota.period}`}{" "}
          <span class="muted">(quota)</span>
        </li>
      ) : null}
      {apiKey.limit_group ? (
        <li>
          In limit group <span class="mono small">{apiKey.limit_group}</span>
        </li>
      ) : null}
      {ips.length > 0 ? (
        <li>
          Only from {ips.slice(0, 3).join(", ")}
          {ips.length > 3 ? ` and ${ips.length - 3} more` : ""}
        </li>
      ) : null}
    </ul>
  );
}
