/**
 * The inputs for what a key may spend and where it may be used from: rate limits, IP allowlist,
 * quota and limit group (docs/quotas.md). Shared by the create, rotate and edit dialogs; the text
 * they hold becomes API fields in src/lib/policy-input.ts.
 */
import { useId } from "preact/hooks";
import { tenantPath } from "../lib/api";
import type { PolicyDraft } from "../lib/policy-input";
import { type LimitGroup, QUOTA_PERIODS, type QuotaPeriod } from "../lib/types";
import { useApp } from "./context";
import { ErrorMessage } from "./error-message";
import { useAsync } from "./hooks";

const PERIOD_TEXT: Record<QuotaPeriod, string> = { day: "per day (UTC)", month: "per month (UTC)", none: "in all (never refills)" };

export function PolicyFieldset({ tenant, draft, onChange }: { tenant: string; draft: PolicyDraft; onChange: (next: PolicyDraft) => void }) {
  const { api } = useApp();
  const ids = { limits: useId(), limitsHint: useId(), ips: useId(), ipsHint: useId(), quota: useId(), period: useId(), group: useId() };
  const groups = useAsync(() => api.json<LimitGroup[]>("GET", tenantPath(tenant, "limit-groups")), [tenant]);
  const set = (field: keyof PolicyDraft) => (e: { currentTarget: { value: string } }) =>
    onChange({ ...draft, [field]: e.currentTarget.value });
  return (
    <fieldset class="field policy">
      <legend>Limits</legend>
      <div class="field">
        <label for={ids.limits}>Rate limits</label>
        <textarea
          id={ids.limits}
          rows={2}
          value={draft.rateLimits}
          aria-describedby={ids.limitsHint}
          placeholder="burst=100/60s"
          onInput={set("rateLimits")}
        />
        <p id={ids.limitsHint} class="hint">
          One per line, <code>name=limit/window</code> (window in s, m, h or d). Empty: none.
        </p>
      </div>
      <div class="field">
        <label for={ids.ips}>Allowed IP addresses</label>
        <textarea
          id={ids.ips}
          rows={2}
          value={draft.allowedIps}
          aria-describedby={ids.ipsHint}
          placeholder="203.0.113.0/24"
          onInput={set("allowedIps")}
        />
        <p id={ids.ipsHint} class="hint">
          One address or CIDR block per line. Empty: usable from anywhere.
        </p>
      </div>
      <div class="field inline">
        <label for={ids.quota}>Quota (calls)</label>
        <input
          id={ids.quota}
          type="number"
          inputMode="numeric"
          min={1}
          value={draft.quotaLimit}
          placeholder="none"
          onInput={set("quotaLimit")}
        />
        <label for={ids.period} class="visually-hidden">
          Quota period
        </label>
        <select id={ids.period} value={draft.quotaPeriod} onChange={set("quotaPeriod")}>
          {QUOTA_PERIODS.map((p) => (
            <option key={p} value={p}>
              {PERIOD_TEXT[p]}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for={ids.group}>Limit group</label>
        <select id={ids.group} value={draft.limitGroup} onChange={set("limitGroup")}>
          <option value="">None</option>
          {(groups.data ?? []).map((g) => (
            <option key={g.id} value={g.id}>
              {g.name} ({g.id})
            </option>
          ))}
          {draft.limitGroup !== "" && !(groups.data ?? []).some((g) => g.id === draft.limitGroup) ? (
            <option value={draft.limitGroup}>{draft.limitGroup}</option>
          ) : null}
        </select>
        <ErrorMessage error={groups.error} context="Limit groups could not be loaded" />
      </div>
    </fieldset>
  );
}
