/** A secret the API returns once (a new API key, a webhook signing secret): shown here, then never again. */
import { useId, useState } from "preact/hooks";

export function SecretOnce({ label, value, what }: { label: string; value: string; what: string }) {
  const id = useId();
  const [status, setStatus] = useState("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setStatus("Copied to the clipboard.");
    } catch {
      const field = document.getElementById(id) as HTMLTextAreaElement | null;
      field?.select();
      setStatus("Copying was not allowed: the text is selected, copy it with Ctrl+C / Cmd+C.");
    }
  };
  return (
    <div class="secret">
      <p class="warning">
        <strong>This is the only time the {what} is shown.</strong> Copy it now and keep it in a secret store. keygate does not keep it: if
        you lose it, create a new one.
      </p>
      <label for={id}>{label}</label>
      <textarea id={id} class="mono secret-value" readOnly rows={4} spellcheck={false} data-secret value={value} />
      <div class="row">
        <button type="button" class="primary" onClick={copy} data-autofocus>
          Copy {what}
        </button>
        <span class="status" aria-live="polite">
          {status}
        </span>
      </div>
    </div>
  );
}
