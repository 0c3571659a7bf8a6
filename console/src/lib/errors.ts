/** One way to describe any failure to a person: the API's or the identity provider's own words first. */
import { ApiError } from "./api";
import { SignInError } from "./oidc";

export interface ErrorText {
  description: string;
  /** The machine-readable code and HTTP status, for a bug report. */
  detail: string | null;
}

export function describeError(err: unknown): ErrorText {
  if (err instanceof ApiError) return { description: err.description, detail: err.status ? `${err.code}, HTTP ${err.status}` : err.code };
  if (err instanceof SignInError) return { description: err.message, detail: err.code };
  if (err instanceof Error) return { description: err.message, detail: null };
  return { description: String(err), detail: null };
}
