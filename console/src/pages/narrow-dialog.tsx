/** Narrowing a key to the scopes it exercised: a preview of what changes, then a rotation (the new key shown once). */
import { useId, useState } from "preact/hooks";
import { tenantPath } from "../lib/api";
import { duration } from "../lib/format";
import { narrowingPreview, REPORT_DAYS } from "../lib/governance";
import type { CreatedKey, KeyScopeUsage, KeyView } from "../lib/types";
import { useApp } from "../ui/context";
import { Dialog } from "../ui/dialog";
import { ErrorMessage } from "../ui/error-message";
import { SecretOnce } from "../ui/secret-once";

const GRACE_CHOICES_SECONDS = [0, 3_600, 86_400, 7 * 86_400, 30 * 86_400];
const DEFAULT_GRACE_SECONDS = 86_400;

function Chips({ scopes, kind }: { scopes: string[]; kind?: "warn" | "new" }) {
  if (scopes.length === 0) return <span class="muted">none</span>;
  return (
    <>
      {scopes.map((s) => (
        <code key={s} class={kind ? `chip ${kind}` : "chip"}>
          {s}
        </code>
      ))}
    </>
  );
}

export function NarrowKeyDialog({
  tenant,
  apiKey,
  usage,
  onClose,
  onNarrowed,
}: {
  tenant: string;
  apiKey: KeyView;
  usage: KeyScopeUsage;
  onClose: () => void;
  onNarrowed: () => void;
}) {
  const { api } = useApp();
  const graceId = useId();
  const [grace, setGrace] = useState(String(DEFAULT_GRACE_SECONDS));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const preview = narrowingPreview(usage);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const key = await api.json<CreatedKey>("POST", tenantPath(tenant, "api-keys", apiKey.id, "narrow"), {
        body: { days: usage.window.days ?? REPORT_DAYS, grace_period_seconds: Number(grace) },
      });
      setCreated(key);
      onNarrowed();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (created) {
    return (
      <Dialog key="shown" title="Your narrowed API key" onClose={onClose} wide>
        <p>
          <strong>{created.name}</strong> (<code>{created.id}</code>) now holds only <Chips scopes={created.scopes} />.
        </p>
        <SecretOnce label="API key" value={created.api_key} what="API key" />
        <div class="actions">
          <button type="button" onClick={onClose}>
            Done, I have stored the key
          </button>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog key="form" title={`Narrow “${apiKey.name}”?`} onClose={onClose} wide>
      <form onSubmit={submit}>
        <p>
          A rotation: a new key holding only the scopes this key's requests were judged by in the last {usage.window.days} days replaces it.
          A scope needed less often than that would be lost.
        </p>
        <dl class="details narrow-preview">
          <dt>Keeps</dt>
          <dd data-preview="kept">
            <Chips scopes={preview.kept} />
          </dd>
          <dt>Loses</dt>
          <dd data-preview="removed">
            <Chips scopes={preview.removed} kind="warn" />
          </dd>
          {preview.added.length > 0 ? (
            <>
              <dt>In place of a wildcard or admin:all</dt>
              <dd data-preview="added">
                <Chips scopes={preview.added} kind="new" />
              </dd>
            </>
          ) : null}
        </dl>
        <div class="field">
          <label for={graceId}>Old key keeps working for</label>
          <select id={graceId} value={grace} onChange={(e) => setGrace(e.currentTarget.value)}>
            {GRACE_CHOICES_SECONDS.map((s) => (
              <option key={s} value={String(s)}>
                {s === 0 ? "No grace period: refuse it now" : duration(s)}
              </option>
            ))}
          </select>
        </div>
        <ErrorMessage error={error} context="The key was not narrowed" />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || usage.exercised_scopes.length === 0}>
            {busy ? "Narrowing…" : "Narrow key"}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
