/** One key: its details and actions, its usage chart, the client IPs that used it, and its audit trail. */
import { useId, useMemo, useState } from "preact/hooks";
import { type ApiClient, tenantPath } from "../lib/api";
import { loadScopeUsage, REPORT_DAYS } from "../lib/governance";
import { keyStatus } from "../lib/keys-table";
import { routePath } from "../lib/router";
import type { AuditEntry, KeyScopeUsage, KeyUsage, KeyView, KnownIp } from "../lib/types";
import { chartData, type Granularity } from "../lib/usage-chart";
import { useApp } from "../ui/context";
import { ErrorMessage } from "../ui/error-message";
import { useAsync, useNow } from "../ui/hooks";
import { KeyLimits, StatusBadge } from "../ui/key-bits";
import { QuotaState } from "../ui/quota-state";
import { Time } from "../ui/time";
import { UsageChart } from "../ui/usage-chart";
import { EditKeyDialog, RevokeKeyDialog, RotateKeyDialog } from "./key-dialogs";
import { NarrowKeyDialog } from "./narrow-dialog";

const RANGES: { id: string; label: string; seconds: number; granularity: Granularity }[] = [
  { id: "24h", label: "Last 24 hours", seconds: 86_400, granularity: "hour" },
  { id: "7d", label: "Last 7 days", seconds: 7 * 86_400, granularity: "hour" },
  { id: "30d", label: "Last 30 days", seconds: 30 * 86_400, granularity: "day" },
];
const AUDIT_PAGE_SIZE = 50;

function Usage({ api, tenant, keyId }: { api: ApiClient; tenant: string; keyId: string }) {
  const selectId = useId();
  const [rangeId, setRangeId] = useState("24h");
  const range = RANGES.find((r) => r.id === rangeId) ?? RANGES[0]!;
  const usage = useAsync(() => {
    const to = Math.floor(Date.now() / 1000);
    return api.json<KeyUsage>("GET", tenantPath(tenant, "api-keys", keyId, "usage"), {
      query: { from: to - range.seconds, to, granularity: range.granularity },
    });
  }, [tenant, keyId, rangeId]);
  const data = useMemo(
    () => (usage.data ? chartData(usage.data.buckets, usage.data.from, usage.data.to, usage.data.granularity) : null),
    [usage.data],
  );
  const totals = usage.data?.totals;
  return (
    <section aria-labelledby="usage-heading">
      <div class="section-head">
        <h2 id="usage-heading">Requests per {range.granularity} by outcome</h2>
        <div class="field inline">
          <label for={selectId}>Range</label>
          <select id={selectId} value={rangeId} onChange={(e) => setRangeId(e.currentTarget.value)}>
            {RANGES.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        <button type="button" onClick={usage.reload}>
          Refresh
        </button>
      </div>
      <ErrorMessage error={usage.error} context="Usage could not be loaded" />
      {usage.loading && !usage.data ? <p class="muted">Loading usage…</p> : null}
      {usage.data && totals && totals.total === 0 ? <p class="empty">No requests with this key in this range.</p> : null}
      {data && totals && totals.total > 0 ? (
        <div class="usage">
          <UsageChart
            data={data}
            label={`Requests per ${range.granularity} by outcome, ${range.label.toLowerCase()}; totals in the table`}
          />
          <table class="compact">
            <caption>Totals, {range.label.toLowerCase()}</caption>
            <thead>
              <tr>
                <th scope="col">Outcome</th>
                <th scope="col" class="num">
                  Requests
                </th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(totals.outcomes)
                .filter(([, n]) => n > 0)
                .map(([outcome, n]) => (
                  <tr key={outcome} data-outcome={outcome}>
                    <th scope="row">{outcome}</th>
                    <td class="num">{n.toLocaleString()}</td>
                  </tr>
                ))}
              <tr>
                <th scope="row">total</th>
                <td class="num" data-usage-total>
                  {totals.total.toLocaleString()}
                </td>
              </tr>
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function ClientIps({ api, tenant, keyId, now }: { api: ApiClient; tenant: string; keyId: string; now: number }) {
  const ips = useAsync(() => api.json<KnownIp[]>("GET", tenantPath(tenant, "api-keys", keyId, "ips")), [tenant, keyId]);
  return (
    <section aria-labelledby="ips-heading">
      <h2 id="ips-heading">Client IP addresses</h2>
      <ErrorMessage error={ips.error} context="Client IPs could not be loaded" />
      {ips.loading && !ips.data ? <p class="muted">Loading client IPs…</p> : null}
      {ips.data && ips.data.length === 0 ? <p class="empty">No client has used this key yet.</p> : null}
      {ips.data && ips.data.length > 0 ? (
        <div class="table-wrap">
          <table class="compact">
            <thead>
              <tr>
                <th scope="col">IP address</th>
                <th scope="col">Country</th>
                <th scope="col">First seen</th>
                <th scope="col">Last seen</th>
                <th scope="col" class="num">
                  Requests
                </th>
              </tr>
            </thead>
            <tbody>
              {ips.data.map((ip) => (
                <tr key={ip.ip}>
                  <th scope="row" class="mono">
                    {ip.ip}
                  </th>
                  <td>{ip.country ?? <span class="muted">unknown</span>}</td>
                  <td>
                    <Time at={ip.first_seen} now={now} />
                  </td>
                  <td>
                    <Time at={ip.last_seen} now={now} />
                  </td>
                  <td class="num">{ip.count.toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function AuditTrail({ api, tenant, keyId, now, version }: { api: ApiClient; tenant: string; keyId: string; now: number; version: number }) {
  const [pages, setPages] = useState<AuditEntry[][]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const first = useAsync(async () => {
    const page = await api.page<AuditEntry>(tenantPath(tenant, "audit-log"), { key_id: keyId, limit: AUDIT_PAGE_SIZE });
    setPages([page.items]);
    setCursor(page.nextCursor);
    return page;
  }, [tenant, keyId, version]);
  const loadMore = async () => {
    try {
      const page = await api.page<AuditEntry>(tenantPath(tenant, "audit-log"), { key_id: keyId, limit: AUDIT_PAGE_SIZE, cursor });
      setPages((p) => [...p, page.items]);
      setCursor(page.nextCursor);
      setMoreError(null);
    } catch (err) {
      setMoreError(err);
    }
  };
  const entries = pages.flat();
  return (
    <section aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit trail</h2>
      <ErrorMessage error={first.error} context="The audit trail could not be loaded" />
      {first.loading && !first.data ? <p class="muted">Loading the audit trail…</p> : null}
      {first.data && entries.length === 0 ? <p class="empty">Nothing has been recorded for this key.</p> : null}
      {entries.length > 0 ? (
        <div class="table-wrap">
          <table class="compact audit">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Outcome</th>
                <th scope="col">By</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id} data-action={e.action} data-outcome={e.outcome}>
                  <td>
                    <Time at={e.at} now={now} />
                  </td>
                  <th scope="row">{e.action}</th>
                  <td>
                    {e.outcome}
                    {e.error ? (
                      <span class="muted">
                        {" "}
                        ({e.error}, HTTP {e.status})
                      </span>
                    ) : null}
                  </td>
                  <td>
                    {e.actor_kind}
                    {e.actor_id ? <span class="mono small"> {e.actor_id}</span> : null}
                  </td>
                  <td class="mono small">{e.ip ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <ErrorMessage error={moreError} context="More entries could not be loaded" />
      {cursor ? (
        <button type="button" onClick={loadMore}>
          Load older entries
        </button>
      ) : null}
    </section>
  );
}

type Modal = "revoke" | "rotate" | "narrow" | "edit" | null;

/** Each scope the key holds: exercised within the window or not, how often, when last. */
function ScopeUsage({ usage, now }: { usage: { data?: KeyScopeUsage; error?: unknown; loading: boolean }; now: number }) {
  const u = usage.data;
  return (
    <section aria-labelledby="scope-usage-heading">
      <h2 id="scope-usage-heading">Scope usage</h2>
      <ErrorMessage error={usage.error} context="The scope usage could not be loaded" />
      {usage.loading && !u ? <p class="muted">Loading scope usage…</p> : null}
      {u ? (
        <>
          <p class="muted small">The last {u.window.days} days. A scope needed less often than that reads as unexercised.</p>
          <table class="scope-usage">
            <thead>
              <tr>
                <th scope="col">Scope</th>
                <th scope="col">Exercised</th>
                <th scope="col">Requests</th>
                <th scope="col">Last</th>
              </tr>
            </thead>
            <tbody>
              {u.scopes.map((s) => (
                <tr key={s.scope} data-scope={s.scope}>
                  <th scope="row">
                    <code>{s.scope}</code>
                    {s.exercised_as && s.exercised_as.length > 0 ? <span class="muted small"> as {s.exercised_as.join(", ")}</span> : null}
                  </th>
                  <td>{s.exercised ? "yes" : <span class="badge warn">not exercised</span>}</td>
                  <td>{s.count}</td>
                  <td>
                    <Time at={s.last_exercised} now={now} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
export function KeyPage({ tenant, keyId }: { tenant: string; keyId: string }) {
  const { api, can } = useApp();
  const now = useNow();
  const key = useAsync(() => api.json<KeyView>("GET", tenantPath(tenant, "api-keys", keyId)), [tenant, keyId]);
  const scopeUsage = useAsync(() => loadScopeUsage(api, tenant, keyId, REPORT_DAYS), [tenant, keyId]);
  const [modal, setModal] = useState<Modal>(null);
  const [version, setVersion] = useState(0);
  const changed = () => {
    key.reload();
    scopeUsage.reload();
    setVersion((v) => v + 1);
  };
  const k = key.data;
  const status = k ? keyStatus(k, now) : null;
  return (
    <>
      <p class="breadcrumb">
        <a href={routePath({ page: "keys", tenant })}>← All keys of {tenant}</a>
      </p>
      <div class="page-head">
        <h1 tabIndex={-1}>{k ? k.name : "API key"}</h1>
        {k && status ? <StatusBadge status={status} /> : null}
        {k && !k.revoked && can(tenant, "updateApiKey") ? (
          <button type="button" onClick={() => setModal("edit")}>
            Edit
          </button>
        ) : null}
        {k && status === "active" && can(tenant, "rotateApiKey") ? (
          <button type="button" onClick={() => setModal("rotate")}>
            Rotate
          </button>
        ) : null}
        {k && status === "active" && scopeUsage.data && can(tenant, "narrowApiKey") ? (
          <button type="button" onClick={() => setModal("narrow")}>
            Narrow
          </button>
        ) : null}
        {k && !k.revoked && can(tenant, "revokeApiKey") ? (
          <button type="button" class="danger" onClick={() => setModal("revoke")}>
            Revoke
          </button>
        ) : null}
      </div>
      <ErrorMessage error={key.error} context="The key could not be loaded" />
      {k ? (
        <dl class="details">
          <dt>Id</dt>
          <dd class="mono">{k.id}</dd>
          <dt>Scopes</dt>
          <dd>
            {k.scopes.map((s) => (
              <code key={s} class="chip">
                {s}
              </code>
            ))}
          </dd>
          <dt>Created</dt>
          <dd>
            <Time at={k.created_at} now={now} />
          </dd>
          <dt>Expires</dt>
          <dd>
            <Time at={k.expires_at} now={now} never="never expires" />
          </dd>
          <dt>Last used</dt>
          <dd>
            <Time at={k.last_used} now={now} />
          </dd>
          <dt>Limits</dt>
          <dd>
            <KeyLimits apiKey={k} />
          </dd>
          {k.quota ? (
            <>
              <dt>Quota</dt>
              <dd data-quota>
                <QuotaState quota={k.quota} now={now} />
              </dd>
            </>
          ) : null}
          {k.limit_group ? (
            <>
              <dt>Limit group</dt>
              <dd class="mono">{k.limit_group}</dd>
            </>
          ) : null}
          {k.revoked_at !== undefined ? (
            <>
              <dt>Revoked</dt>
              <dd>
                <Time at={k.revoked_at} now={now} />
              </dd>
            </>
          ) : null}
          {k.rotated_from ? (
            <>
              <dt>Replaces</dt>
              <dd>
                <a class="mono" href={routePath({ page: "key", tenant, keyId: k.rotated_from })}>
                  {k.rotated_from}
                </a>
              </dd>
            </>
          ) : null}
          {k.replaced_by ? (
            <>
              <dt>Replaced by</dt>
              <dd>
                <a class="mono" href={routePath({ page: "key", tenant, keyId: k.replaced_by })}>
                  {k.replaced_by}
                </a>
                {k.grace_period_ends_at !== undefined ? (
                  <>
                    {" "}
                    (old key accepted until <Time at={k.grace_period_ends_at} now={now} />)
                  </>
                ) : null}
              </dd>
            </>
          ) : null}
          {k.metadata ? (
            <>
              <dt>Metadata</dt>
              <dd>
                <pre class="mono small">{JSON.stringify(k.metadata, null, 2)}</pre>
              </dd>
            </>
          ) : null}
        </dl>
      ) : null}
      <ScopeUsage usage={scopeUsage} now={now} />
      <Usage api={api} tenant={tenant} keyId={keyId} />
      <ClientIps api={api} tenant={tenant} keyId={keyId} now={now} />
      <AuditTrail api={api} tenant={tenant} keyId={keyId} now={now} version={version} />
      {k && modal === "revoke" ? <RevokeKeyDialog tenant={tenant} apiKey={k} onClose={() => setModal(null)} onRevoked={changed} /> : null}
      {k && modal === "edit" ? <EditKeyDialog tenant={tenant} apiKey={k} onClose={() => setModal(null)} onSaved={changed} /> : null}
      {k && modal === "rotate" ? <RotateKeyDialog tenant={tenant} apiKey={k} onClose={() => setModal(null)} onRotated={changed} /> : null}
      {k && modal === "narrow" && scopeUsage.data ? (
        <NarrowKeyDialog tenant={tenant} apiKey={k} usage={scopeUsage.data} onClose={() => setModal(null)} onNarrowed={changed} />
      ) : null}
    </>
  );
}
