import { describeError } from "../lib/errors";

/** An error as the API (or identity provider) described it, announced to screen readers. */
export function ErrorMessage({ error, context }: { error: unknown; context?: string }) {
  if (error === undefined || error === null) return null;
  const { description, detail } = describeError(error);
  return (
    <div class="error" role="alert">
      {context ? <strong>{context}: </strong> : null}
      <span class="error-description">{description}</span>
      {detail ? <span class="error-detail"> ({detail})</span> : null}
    </div>
  );
}
