/** The tenant's alerts, newest first, with acknowledge; and the thresholds that raise them. */
import { useId, useState } from "preact/hooks";
import { type ApiClient, tenantPath } from "../lib/api";
import { routePath } from "../lib/router";
import { ALERT_TYPES, type Alert, type AlertSettings } from "../lib/types";
import { useApp } from "../ui/context";
import { ErrorMessage } from "../ui/error-message";
import { useAsync, useNow } from "../ui/hooks";
import { Time } from "../ui/time";

const PAGE_SIZE = 50;

const TYPE_TEXT: Record<string, string> = {
  volume: "Unusual volume",
  new_ip: "Used from a new IP address",
  refusal_burst: "Burst of refused requests",
  revoked_key_used: "Revoked key still in use",
  key_expiring: "Key expiring soon",
  key_unused: "Key unused",
  rate_limited: "Rate limited",
  "key.leaked": "Key leaked",
  quota_low: "Quota running low",
  quota_exhausted: "Quota used up",
};

function Details({ details }: { details: Record<string, unknown> }) {
  const entries = Object.entries(details);
  if (entries.length === 0) return null;
  return (
    <ul class="alert-details">
      {entries.map(([name, value]) => (
        <li key={name}>
          <span class="muted">{name}:</span> {typeof value === "object" ? JSON.stringify(value) : String(value)}
        </li>
      ))}
    </ul>
  );
}

function AlertRow({
  alert,
  tenant,
  now,
  api,
  onAcked,
}: {
  alert: Alert;
  tenant: string;
  now: number;
  api: ApiClient;
  onAcked: (a: Alert) => void;
}) {
  const { can } = useApp();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const ack = async () => {
    setBusy(true);
    try {
      onAcked(await api.json<Alert>("POST", tenantPath(tenant, "alerts", alert.id, "ack")));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const label = TYPE_TEXT[alert.type] ?? alert.type;
  return (
    <li class={alert.acknowledged_at === null ? "alert-item open" : "alert-item"} data-alert-id={alert.id}>
      <div class="alert-head">
        <strong>{label}</strong>
        <Time at={alert.created_at} now={now} />
        {alert.key_id ? (
          <a class="mono small" href={routePath({ page: "key", tenant, keyId: alert.key_id })}>
            {alert.key_id}
          </a>
        ) : null}
        {alert.acknowledged_at === null && !can(tenant, "acknowledgeAlert") ? (
          <span class="muted">Not acknowledged</span>
        ) : alert.acknowledged_at === null ? (
          <button type="button" onClick={ack} disabled={busy} aria-label={`Acknowledge: ${label}`}>
            {busy ? "Acknowledging…" : "Acknowledge"}
          </button>
        ) : (
          <span class="muted">
            Acknowledged <Time at={alert.acknowledged_at} now={now} />
          </span>
        )}
      </div>
      <Details details={alert.details} />
      <ErrorMessage error={error} context="Not acknowledged" />
    </li>
  );
}

function Settings({ api, tenant }: { api: ApiClient; tenant: string }) {
  const { can } = useApp();
  const mayChange = can(tenant, "updateAlertSettings");
  const settings = useAsync(() => api.json<AlertSettings>("GET", tenantPath(tenant, "alert-settings")), [tenant]);
  const [draft, setDraft] = useState<Partial<AlertSettings>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");
  const ids = {
    volume: useId(),
    refusals: useId(),
    expiring: useId(),
    unused: useId(),
    newIp: useId(),
    leak: useId(),
    revokeUnused: useId(),
    notice: useId(),
  };
  const value = { ...settings.data, ...draft } as AlertSettings;
  const num = (field: keyof AlertSettings) => (e: { currentTarget: HTMLInputElement }) =>
    setDraft((d) => ({ ...d, [field]: e.currentTarget.value === "" ? undefined : Number(e.currentTarget.value) }));
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved("");
    try {
      await api.json<AlertSettings>("PUT", tenantPath(tenant, "alert-settings"), { body: draft });
      setDraft({});
      settings.reload();
      setSaved("Saved.");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="settings-heading">
      <h2 id="settings-heading">When to raise alerts</h2>
      <ErrorMessage error={settings.error} context="The alert settings could not be loaded" />
      {settings.data ? (
        <form class="settings" onSubmit={save}>
          <fieldset disabled={!mayChange} class="plain">
            <div class="field">
              <label for={ids.volume}>Requests per hour per key above</label>
              <input id={ids.volume} type="number" min={0} value={value.volume_per_hour} onInput={num("volume_per_hour")} />
            </div>
            <div class="field">
              <label for={ids.refusals}>Refused requests per hour per key above</label>
              <input id={ids.refusals} type="number" min={0} value={value.refusals_per_hour} onInput={num("refusals_per_hour")} />
            </div>
            <div class="field">
              <label for={ids.expiring}>Key expiring within (days)</label>
              <input id={ids.expiring} type="number" min={0} value={value.expiring_within_days} onInput={num("expiring_within_days")} />
            </div>
            <div class="field">
              <label for={ids.unused}>Key unused for (days)</label>
              <input id={ids.unused} type="number" min={0} value={value.unused_days} onInput={num("unused_days")} />
            </div>
            {value.revoke_unused_after_days !== undefined ? (
              <>
                <div class="field">
                  <label for={ids.revokeUnused}>Revoke keys unused for (days, 0: never)</label>
                  <input
                    id={ids.revokeUnused}
                    type="number"
                    min={0}
                    value={value.revoke_unused_after_days}
                    onInput={num("revoke_unused_after_days")}
                  />
                </div>
                <div class="field">
                  <label for={ids.notice}>Warn this many days before revoking</label>
                  <input id={ids.notice} type="number" min={0} value={value.unused_notice_days} onInput={num("unused_notice_days")} />
                </div>
              </>
            ) : null}
            <div class="field">
              <label class="check" for={ids.newIp}>
                <input
                  id={ids.newIp}
                  type="checkbox"
                  checked={value.new_ip}
                  onChange={(e) => setDraft((d) => ({ ...d, new_ip: e.currentTarget.checked }))}
                />
                A key is used from a new IP address
              </label>
            </div>
            <div class="field">
              <label for={ids.leak}>When a key leaks</label>
              <input
                id={ids.leak}
                value={value.leak_action}
                onInput={(e) => setDraft((d) => ({ ...d, leak_action: e.currentTarget.value }))}
              />
            </div>
          </fieldset>
          <ErrorMessage error={error} context="The settings were not saved" />
          {mayChange ? (
            <div class="actions">
              <button type="submit" class="primary" disabled={busy || Object.keys(draft).length === 0}>
                Save settings
              </button>
              <span class="status" aria-live="polite">
                {saved}
              </span>
            </div>
          ) : (
            <p class="muted small">Changing these needs the admin role.</p>
          )}
        </form>
      ) : null}
    </section>
  );
}

export function AlertsPage({ tenant }: { tenant: string }) {
  const { api } = useApp();
  const now = useNow();
  const typeId = useId();
  const [type, setType] = useState("");
  const [openOnly, setOpenOnly] = useState(true);
  const [extra, setExtra] = useState<{ items: Alert[]; cursor: string | null } | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const [acked, setAcked] = useState<Record<string, Alert>>({});
  const first = useAsync(async () => {
    setExtra(null);
    return api.page<Alert>(tenantPath(tenant, "alerts"), { type, limit: PAGE_SIZE });
  }, [tenant, type]);
  const cursor = extra ? extra.cursor : (first.data?.nextCursor ?? null);
  const all = [...(first.data?.items ?? []), ...(extra?.items ?? [])].map((a) => acked[a.id] ?? a);
  const shown = openOnly ? all.filter((a) => a.acknowledged_at === null) : all;
  const loadMore = async () => {
    try {
      const page = await api.page<Alert>(tenantPath(tenant, "alerts"), { type, limit: PAGE_SIZE, cursor });
      setExtra((x) => ({ items: [...(x?.items ?? []), ...page.items], cursor: page.nextCursor }));
      setMoreError(null);
    } catch (err) {
      setMoreError(err);
    }
  };
  return (
    <>
      <h1 tabIndex={-1}>
        Alerts <span class="muted">of {tenant}</span>
      </h1>
      <fieldset class="filters">
        <legend class="visually-hidden">Filter alerts</legend>
        <div class="field inline">
          <label for={typeId}>Type</label>
          <select id={typeId} value={type} onChange={(e) => setType(e.currentTarget.value)}>
            <option value="">All types</option>
            {ALERT_TYPES.map((t) => (
              <option key={t} value={t}>
                {TYPE_TEXT[t] ?? t}
              </option>
            ))}
          </select>
        </div>
        <label class="check">
          <input type="checkbox" checked={openOnly} onChange={(e) => setOpenOnly(e.currentTarget.checked)} />
          Unacknowledged only
        </label>
      </fieldset>
      <ErrorMessage error={first.error} context="The alerts could not be loaded" />
      {first.loading && !first.data ? <p class="muted">Loading alerts…</p> : null}
      {first.data && shown.length === 0 ? (
        <p class="empty">
          {openOnly && all.length > 0
            ? "Every alert here has been acknowledged."
            : "No alerts. keygate raises one when a key behaves unusually."}
        </p>
      ) : null}
      {shown.length > 0 ? (
        <ul class="alerts">
          {shown.map((a) => (
            <AlertRow key={a.id} alert={a} tenant={tenant} now={now} api={api} onAcked={(x) => setAcked((m) => ({ ...m, [x.id]: x }))} />
          ))}
        </ul>
      ) : null}
      <ErrorMessage error={moreError} context="More alerts could not be loaded" />
      {cursor ? (
        <button type="button" onClick={loadMore}>
          Load older alerts
        </button>
      ) : null}
      <Settings api={api} tenant={tenant} />
    </>
  );
}
