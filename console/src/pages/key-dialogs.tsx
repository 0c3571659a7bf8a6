/** Create, edit, revoke and rotate: the dialogs that change keys, shared by the keys table and the key page. */
import { useId, useState } from "preact/hooks";
import { tenantPath } from "../lib/api";
import { duration } from "../lib/format";
import { changedFields, createFields, draftOf, EMPTY_POLICY, type PolicyDraft } from "../lib/policy-input";
import type { CreatedKey, KeyView } from "../lib/types";
import { useApp } from "../ui/context";
import { Dialog } from "../ui/dialog";
import { ErrorMessage } from "../ui/error-message";
import { useAsync } from "../ui/hooks";
import { PolicyFieldset } from "../ui/policy-fields";
import { SecretOnce } from "../ui/secret-once";

const DEFAULT_EXPIRES_IN_DAYS = 90;
const NAME_MAX_LENGTH = 200;
const REASON_MAX_LENGTH = 500;
const GRACE_CHOICES_SECONDS = [0, 3_600, 86_400, 7 * 86_400, 30 * 86_400];
const DEFAULT_GRACE_SECONDS = 86_400;

function NewKeyShown({ created, onDone, intro }: { created: CreatedKey; onDone: () => void; intro: string }) {
  return (
    <>
      <p>
        {intro} <strong>{created.name}</strong> (<code>{created.id}</code>).
      </p>
      <SecretOnce label="API key" value={created.api_key} what="API key" />
      <div class="actions">
        <button type="button" onClick={onDone}>
          Done, I have stored the key
        </button>
      </div>
    </>
  );
}

export function CreateKeyDialog({ tenant, onClose, onCreated }: { tenant: string; onClose: () => void; onCreated: () => void }) {
  const { api } = useApp();
  const ids = { name: useId(), expires: useId(), scopes: useId(), hint: useId() };
  const catalog = useAsync(() => api.json<Record<string, string>>("GET", "/api/v1/scopes"), []);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>([]);
  const [expires, setExpires] = useState(String(DEFAULT_EXPIRES_IN_DAYS));
  const [policy, setPolicy] = useState<PolicyDraft>(EMPTY_POLICY);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<CreatedKey | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // The API validates every field and names the one that is wrong; the form does not second-guess it.
      const body = { name, scopes, expires_in_days: expires.trim() === "" ? undefined : Number(expires), ...createFields(policy) };
      const key = await api.json<CreatedKey>("POST", tenantPath(tenant, "api-keys", "create"), { body });
      setCreated(key);
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    return (
      <Dialog key="shown" title="Your new API key" onClose={onClose} wide>
        <NewKeyShown created={created} onDone={onClose} intro="Created" />
      </Dialog>
    );
  }
  return (
    <Dialog key="form" title="Create an API key" onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <div class="field">
          <label for={ids.name}>Name</label>
          <input
            id={ids.name}
            value={name}
            maxLength={NAME_MAX_LENGTH}
            required
            autoComplete="off"
            placeholder="CI/CD Pipeline Key"
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </div>
        <fieldset class="field" aria-describedby={ids.scopes}>
          <legend>Scopes</legend>
          <p id={ids.scopes} class="hint">
            What the key may do. The gateway refuses requests whose route needs a scope the key lacks.
          </p>
          <ErrorMessage error={catalog.error} context="The scope catalog could not be loaded" />
          {catalog.loading && !catalog.data ? <p class="muted">Loading scopes…</p> : null}
          <div class="scope-grid">
            {Object.entries(catalog.data ?? {}).map(([scope, description]) => (
              <label key={scope} class="check">
                <input
                  type="checkbox"
                  value={scope}
                  checked={scopes.includes(scope)}
                  onChange={(e) => {
                    const on = e.currentTarget.checked;
                    setScopes((s) => (on ? [...s, scope] : s.filter((x) => x !== scope)));
                  }}
                />
                <span>
                  <code>{scope}</code> <span class="muted">{description}</span>
                </span>
              </label>
            ))}
          </div>
        </fieldset>
        <div class="field">
          <label for={ids.expires}>Expires in (days)</label>
          <input
            id={ids.expires}
            type="number"
            inputMode="numeric"
            min={0}
            max={3650}
            value={expires}
            aria-describedby={ids.hint}
            onInput={(e) => setExpires(e.currentTarget.value)}
          />
          <p id={ids.hint} class="hint">
            0 means the key never expires. Shorter lifetimes limit the damage of a leaked key.
          </p>
        </div>
        <PolicyFieldset tenant={tenant} draft={policy} onChange={setPolicy} />
        <ErrorMessage error={error} context="The key was not created" />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Creating…" : "Create key"}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function RevokeKeyDialog({
  tenant,
  apiKey,
  onClose,
  onRevoked,
}: {
  tenant: string;
  apiKey: KeyView;
  onClose: () => void;
  onRevoked: () => void;
}) {
  const { api } = useApp();
  const reasonId = useId();
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = reason.trim() ? { reason: reason.trim() } : undefined;
      await api.json("POST", tenantPath(tenant, "api-keys", apiKey.id, "revoke"), { body });
      onRevoked();
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Revoke “${apiKey.name}”?`} onClose={onClose}>
      <form onSubmit={submit}>
        <p>
          Every request with this key will be refused, at once here and within about 100 seconds everywhere. This cannot be undone: clients
          that still need access need a new key.
        </p>
        <div class="field">
          <label for={reasonId}>Reason (optional, kept in the audit log)</label>
          <textarea id={reasonId} rows={3} maxLength={REASON_MAX_LENGTH} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </div>
        <ErrorMessage error={error} context="The key was not revoked" />
        <div class="actions">
          <button type="submit" class="danger" disabled={busy}>
            {busy ? "Revoking…" : "Revoke key"}
          </button>
          <button type="button" onClick={onClose} data-autofocus>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function RotateKeyDialog({
  tenant,
  apiKey,
  onClose,
  onRotated,
}: {
  tenant: string;
  apiKey: KeyView;
  onClose: () => void;
  onRotated: () => void;
}) {
  const { api } = useApp();
  const graceId = useId();
  const hintId = useId();
  const [grace, setGrace] = useState(String(DEFAULT_GRACE_SECONDS));
  const original = draftOf(apiKey);
  const [policy, setPolicy] = useState<PolicyDraft>(original);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // What is left as it was is inherited by the replacement.
      const key = await api.json<CreatedKey>("POST", tenantPath(tenant, "api-keys", apiKey.id, "rotate"), {
        body: { grace_period_seconds: Number(grace), ...changedFields(policy, original) },
      });
      setCreated(key);
      onRotated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (created) {
    return (
      <Dialog key="shown" title="Your replacement API key" onClose={onClose} wide>
        <NewKeyShown created={created} onDone={onClose} intro="Replaces the rotated key with" />
      </Dialog>
    );
  }
  return (
    <Dialog key="form" title={`Rotate “${apiKey.name}”?`} onClose={onClose}>
      <form onSubmit={submit}>
        <p>
          A new key with the same name and scopes replaces this one. Deploy the new key to its clients during the grace period; after it,
          the old key is refused.
        </p>
        <div class="field">
          <label for={graceId}>Old key keeps working for</label>
          <select id={graceId} value={grace} aria-describedby={hintId} onChange={(e) => setGrace(e.currentTarget.value)}>
            {GRACE_CHOICES_SECONDS.map((s) => (
              <option key={s} value={String(s)}>
                {s === 0 ? "No grace period: refuse it now" : duration(s)}
              </option>
            ))}
          </select>
          <p id={hintId} class="hint">
            Choose no grace period if the old key may have leaked.
          </p>
        </div>
        <PolicyFieldset tenant={tenant} draft={policy} onChange={setPolicy} />
        <ErrorMessage error={error} context="The key was not rotated" />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Rotating…" : "Rotate key"}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Edit (PATCH): the name, and the limits, allowlist, quota and limit group; only what changed is sent. */
export function EditKeyDialog({
  tenant,
  apiKey,
  onClose,
  onSaved,
}: {
  tenant: string;
  apiKey: KeyView;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { api } = useApp();
  const nameId = useId();
  const [name, setName] = useState(apiKey.name);
  const original = draftOf(apiKey);
  const [policy, setPolicy] = useState<PolicyDraft>(original);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { ...changedFields(policy, original) };
      if (name !== apiKey.name) body.name = name;
      if (Object.keys(body).length > 0) await api.json("PATCH", tenantPath(tenant, "api-keys", apiKey.id), { body });
      onSaved();
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Edit “${apiKey.name}”`} onClose={onClose} wide>
      <form onSubmit={submit} noValidate>
        <div class="field">
          <label for={nameId}>Name</label>
          <input
            id={nameId}
            value={name}
            maxLength={NAME_MAX_LENGTH}
            required
            autoComplete="off"
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </div>
        <PolicyFieldset tenant={tenant} draft={policy} onChange={setPolicy} />
        <ErrorMessage error={error} context="The key was not changed" />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Saving…" : "Save"}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
