/** The tenant's webhooks: create (the signing secret shown once), test, deliveries, delete. */
import { useId, useState } from "preact/hooks";
import { type ApiClient, tenantPath } from "../lib/api";
import { type CreatedWebhook, WEBHOOK_EVENTS, type Webhook, type WebhookDelivery } from "../lib/types";
import { useApp } from "../ui/context";
import { Dialog } from "../ui/dialog";
import { ErrorMessage } from "../ui/error-message";
import { useAsync, useNow } from "../ui/hooks";
import { SecretOnce } from "../ui/secret-once";
import { Time } from "../ui/time";

function CreateWebhookDialog({ tenant, onClose, onCreated }: { tenant: string; onClose: () => void; onCreated: () => void }) {
  const { api } = useApp();
  const urlId = useId();
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<CreatedWebhook | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setCreated(await api.json<CreatedWebhook>("POST", tenantPath(tenant, "webhooks"), { body: { url, events } }));
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (created) {
    return (
      <Dialog key="shown" title="Webhook created" onClose={onClose} wide>
        <p>
          keygate signs every delivery to <span class="mono">{created.url}</span> with this secret; verify the signature before trusting a
          delivery.
        </p>
        <SecretOnce label="Signing secret" value={created.secret} what="signing secret" />
        <div class="actions">
          <button type="button" onClick={onClose}>
            Done, I have stored the secret
          </button>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog key="form" title="Add a webhook" onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <div class="field">
          <label for={urlId}>URL (https)</label>
          <input
            id={urlId}
            type="url"
            value={url}
            placeholder="https://hooks.example.com/keygate"
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
        </div>
        <fieldset class="field">
          <legend>Events</legend>
          <div class="scope-grid">
            {WEBHOOK_EVENTS.map((event) => (
              <label key={event} class="check">
                <input
                  type="checkbox"
                  checked={events.includes(event)}
                  onChange={(e) => {
                    const on = e.currentTarget.checked;
                    setEvents((x) => (on ? [...x, event] : x.filter((y) => y !== event)));
                  }}
                />
                <code>{event}</code>
              </label>
            ))}
          </div>
        </fieldset>
        <ErrorMessage error={error} context="The webhook was not created" />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Adding…" : "Add webhook"}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function DeleteWebhookDialog({
  tenant,
  hook,
  onClose,
  onDeleted,
}: {
  tenant: string;
  hook: Webhook;
  onClose: () => void;
  onDeleted: () => void;
}) {
  const { api } = useApp();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const remove = async () => {
    setBusy(true);
    try {
      await api.json("DELETE", tenantPath(tenant, "webhooks", hook.id));
      onDeleted();
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title="Delete this webhook?" onClose={onClose}>
      <p>
        keygate stops sending events to <span class="mono">{hook.url}</span>.
      </p>
      <ErrorMessage error={error} context="The webhook was not deleted" />
      <div class="actions">
        <button type="button" class="danger" onClick={remove} disabled={busy}>
          Delete webhook
        </button>
        <button type="button" onClick={onClose} data-autofocus>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

function Deliveries({ api, tenant, hook, now }: { api: ApiClient; tenant: string; hook: Webhook; now: number }) {
  const deliveries = useAsync(
    () => api.json<WebhookDelivery[]>("GET", tenantPath(tenant, "webhooks", hook.id, "deliveries")),
    [tenant, hook.id],
  );
  return (
    <div class="deliveries">
      <div class="section-head">
        <h3>Recent deliveries</h3>
        <button type="button" onClick={deliveries.reload}>
          Refresh
        </button>
      </div>
      <ErrorMessage error={deliveries.error} context="Deliveries could not be loaded" />
      {deliveries.data && deliveries.data.length === 0 ? <p class="empty">Nothing delivered yet.</p> : null}
      {deliveries.data && deliveries.data.length > 0 ? (
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Attempt</th>
              <th scope="col">Status</th>
              <th scope="col">Answer</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.data.map((d) => (
              <tr key={d.id} data-delivery-status={d.status}>
                <td>
                  <Time at={d.at} now={now} />
                </td>
                <th scope="row">
                  <code>{d.event_type}</code>
                </th>
                <td>{d.attempt}</td>
                <td>
                  {d.status}
                  {d.next_attempt_at !== null ? (
                    <span class="muted">
                      {" "}
                      (retry <Time at={d.next_attempt_at} now={now} />)
                    </span>
                  ) : null}
                </td>
                <td>{d.response_status !== null ? `HTTP ${d.response_status}` : (d.error ?? "")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}

function WebhookItem({ hook, tenant, now, onDelete }: { hook: Webhook; tenant: string; now: number; onDelete: () => void }) {
  const { api, can } = useApp();
  const [open, setOpen] = useState(false);
  const [testResult, setTestResult] = useState("");
  const [error, setError] = useState<unknown>(null);
  const test = async () => {
    setError(null);
    setTestResult("");
    try {
      const res = await api.json<{ event_id: string }>("POST", tenantPath(tenant, "webhooks", hook.id, "test"));
      setTestResult(`Test event ${res.event_id} queued.`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <li class="webhook" data-webhook-id={hook.id}>
      <div class="webhook-head">
        <span class="mono">{hook.url}</span>
        <span class="muted">
          added <Time at={hook.created_at} now={now} />
        </span>
      </div>
      <p class="small">
        {hook.events.map((e) => (
          <code key={e} class="chip">
            {e}
          </code>
        ))}
      </p>
      <div class="row">
        {can(tenant, "testWebhook") ? (
          <button type="button" onClick={test}>
            Send test event
          </button>
        ) : null}
        <button type="button" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
          {open ? "Hide deliveries" : "Show deliveries"}
        </button>
        {can(tenant, "deleteWebhook") ? (
          <button type="button" class="danger" onClick={onDelete}>
            Delete
          </button>
        ) : null}
        <span class="status" aria-live="polite">
          {testResult}
        </span>
      </div>
      <ErrorMessage error={error} context="The test event was not sent" />
      {open ? <Deliveries api={api} tenant={tenant} hook={hook} now={now} /> : null}
    </li>
  );
}

export function WebhooksPage({ tenant }: { tenant: string }) {
  const { api, can } = useApp();
  const now = useNow();
  const hooks = useAsync(() => api.json<Webhook[]>("GET", tenantPath(tenant, "webhooks")), [tenant]);
  const [modal, setModal] = useState<{ kind: "create" } | { kind: "delete"; hook: Webhook } | null>(null);
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>
          Webhooks <span class="muted">of {tenant}</span>
        </h1>
        {can(tenant, "createWebhook") ? (
          <button type="button" class="primary" onClick={() => setModal({ kind: "create" })}>
            Add webhook
          </button>
        ) : null}
      </div>
      <p>keygate posts signed events (alerts, keys created, revoked, rotated or leaked) to these URLs.</p>
      <ErrorMessage error={hooks.error} context="The webhooks could not be loaded" />
      {hooks.loading && !hooks.data ? <p class="muted">Loading webhooks…</p> : null}
      {hooks.data && hooks.data.length === 0 ? (
        <p class="empty">No webhooks yet. Add one to hear about alerts where your team works.</p>
      ) : null}
      {hooks.data && hooks.data.length > 0 ? (
        <ul class="webhooks">
          {hooks.data.map((h) => (
            <WebhookItem key={h.id} hook={h} tenant={tenant} now={now} onDelete={() => setModal({ kind: "delete", hook: h })} />
          ))}
        </ul>
      ) : null}
      {modal?.kind === "create" ? <CreateWebhookDialog tenant={tenant} onClose={() => setModal(null)} onCreated={hooks.reload} /> : null}
      {modal?.kind === "delete" ? (
        <DeleteWebhookDialog tenant={tenant} hook={modal.hook} onClose={() => setModal(null)} onDeleted={hooks.reload} />
      ) : null}
    </>
  );
}
