/**
 * The tenant's limit groups (shared budgets, docs/quotas.md): create one, see each group's quota
 * state, its keys and its usage over time.
 */
import { useId, useMemo, useState } from "preact/hooks";
import { tenantPath } from "../lib/api";
import { parseRateLimits } from "../lib/policy-input";
import { routePath } from "../lib/router";
import { type KeyUsage, type LimitGroup, QUOTA_PERIODS, type QuotaPeriod } from "../lib/types";
import { chartData } from "../lib/usage-chart";
import { useApp } from "../ui/context";
import { Dialog } from "../ui/dialog";
import { ErrorMessage } from "../ui/error-message";
import { useAsync, useNow } from "../ui/hooks";
import { QuotaState } from "../ui/quota-state";
import { UsageChart } from "../ui/usage-chart";

const DAY_SECONDS = 86_400;

function CreateGroupDialog({ tenant, onClose, onCreated }: { tenant: string; onClose: () => void; onCreated: () => void }) {
  const { api } = useApp();
  const ids = { name: useId(), limits: useId(), quota: useId(), period: useId() };
  const [name, setName] = useState("");
  const [limits, setLimits] = useState("");
  const [quota, setQuota] = useState("");
  const [period, setPeriod] = useState<QuotaPeriod>("month");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { name };
      const rateLimits = parseRateLimits(limits);
      if (rateLimits.length > 0) body.rate_limits = rateLimits;
      if (quota.trim() !== "") body.quota = { limit: Number(quota), period };
      await api.json("POST", tenantPath(tenant, "limit-groups"), { body });
      onCreated();
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title="Create a limit group" onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <div class="field">
          <label for={ids.name}>Name</label>
          <input
            id={ids.name}
            value={name}
            required
            autoComplete="off"
            placeholder="Acme Corp"
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for={ids.limits}>Rate limits shared by its keys</label>
          <textarea
            id={ids.limits}
            rows={2}
            value={limits}
            placeholder="burst=1000/60s"
            onInput={(e) => setLimits(e.currentTarget.value)}
          />
        </div>
        <div class="field inline">
          <label for={ids.quota}>Quota (calls)</label>
          <input id={ids.quota} type="number" min={1} value={quota} placeholder="none" onInput={(e) => setQuota(e.currentTarget.value)} />
          <label for={ids.period} class="visually-hidden">
            Quota period
          </label>
          <select id={ids.period} value={period} onChange={(e) => setPeriod(e.currentTarget.value as QuotaPeriod)}>
            {QUOTA_PERIODS.map((p) => (
              <option key={p} value={p}>
                {p === "none" ? "in all" : `per ${p}`}
              </option>
            ))}
          </select>
        </div>
        <ErrorMessage error={error} context="The group was not created" />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Creating…" : "Create group"}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function GroupDetails({ tenant, groupId, now }: { tenant: string; groupId: string; now: number }) {
  const { api } = useApp();
  const group = useAsync(() => api.json<LimitGroup>("GET", tenantPath(tenant, "limit-groups", groupId)), [tenant, groupId]);
  const usage = useAsync(() => {
    const to = Math.floor(Date.now() / 1000);
    return api.json<KeyUsage>("GET", tenantPath(tenant, "limit-groups", groupId, "usage"), {
      query: { from: to - DAY_SECONDS, to, granularity: "hour" },
    });
  }, [tenant, groupId]);
  const data = useMemo(
    () => (usage.data ? chartData(usage.data.buckets, usage.data.from, usage.data.to, usage.data.granularity) : null),
    [usage.data],
  );
  const g = group.data;
  return (
    <section aria-labelledby="group-heading" data-group={groupId}>
      <h2 id="group-heading">{g ? g.name : "Limit group"}</h2>
      <ErrorMessage error={group.error} context="The group could not be loaded" />
      {g ? (
        <dl class="details">
          <dt>Id</dt>
          <dd class="mono">{g.id}</dd>
          <dt>Quota</dt>
          <dd data-group-quota>{g.quota ? <QuotaState quota={g.quota} now={now} /> : <span class="muted">none</span>}</dd>
          <dt>Keys</dt>
          <dd>
            {(g.keys ?? []).length === 0 ? (
              <span class="muted">none yet: add keys with the key's Edit dialog</span>
            ) : (
              <ul class="limits">
                {(g.keys ?? []).map((k) => (
                  <li key={k.id}>
                    <a href={routePath({ page: "key", tenant, keyId: k.id })}>{k.name}</a>
                  </li>
                ))}
              </ul>
            )}
          </dd>
        </dl>
      ) : null}
      <ErrorMessage error={usage.error} context="Usage could not be loaded" />
      {usage.data && usage.data.totals.total === 0 ? <p class="empty">No requests by the group's keys in the last 24 hours.</p> : null}
      {data && usage.data && usage.data.totals.total > 0 ? (
        <UsageChart
          data={data}
          label={`Requests of the group's keys per hour by outcome, last 24 hours (${usage.data.totals.total} in all)`}
        />
      ) : null}
    </section>
  );
}

export function LimitGroupsPage({ tenant }: { tenant: string }) {
  const { api } = useApp();
  const now = useNow();
  const groups = useAsync(() => api.json<LimitGroup[]>("GET", tenantPath(tenant, "limit-groups")), [tenant]);
  const [creating, setCreating] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>Limit groups</h1>
        <button type="button" class="primary" onClick={() => setCreating(true)}>
          Create group
        </button>
      </div>
      <p class="hint">Keys in a group count against its rate limits and quota as well as their own; the tightest decides.</p>
      <ErrorMessage error={groups.error} context="Limit groups could not be loaded" />
      {groups.data && groups.data.length === 0 ? <p class="empty">This tenant has no limit groups yet.</p> : null}
      {groups.data && groups.data.length > 0 ? (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Quota</th>
                <th scope="col">Rate limits</th>
              </tr>
            </thead>
            <tbody>
              {groups.data.map((g) => (
                <tr key={g.id}>
                  <th scope="row">
                    <button type="button" class="link" aria-pressed={selected === g.id} onClick={() => setSelected(g.id)}>
                      {g.name}
                    </button>
                  </th>
                  <td>{g.quota ? <QuotaState quota={g.quota} now={now} /> : <span class="muted">none</span>}</td>
                  <td>{(g.rate_limits ?? []).map((l) => `${l.limit} per ${l.window_seconds} s (${l.name})`).join(", ") || "none"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {selected ? <GroupDetails key={selected} tenant={tenant} groupId={selected} now={now} /> : null}
      {creating ? <CreateGroupDialog tenant={tenant} onClose={() => setCreating(false)} onCreated={groups.reload} /> : null}
    </>
  );
}
