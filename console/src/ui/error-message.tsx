import { useContext } from "preact/hooks";
import { ApiError } from "../lib/api";
import { describeError } from "../lib/errors";
import { AppContext } from "./context";

/**
 * An error as the API (or identity provider) described it, announced to screen readers. When the
 * API refused the access token itself (401), it offers to sign in again.
 */
export function ErrorMessage({ error, context }: { error: unknown; context?: string }) {
  const app = useContext(AppContext);
  if (error === undefined || error === null) return null;
  const { description, detail } = describeError(error);
  const refusedToken = app !== null && error instanceof ApiError && error.status === 401;
  return (
    <div class="error" role="alert">
      {context ? <strong>{context}: </strong> : null}
      <span class="error-description">{description}</span>
      {detail ? <span class="error-detail"> ({detail})</span> : null}
      {refusedToken ? (
        <button type="button" class="inline-action" onClick={app.signIn}>
          Sign in again
        </button>
      ) : null}
    </div>
  );
}
