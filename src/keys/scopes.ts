/** "Does this scope satisfy?" answered once, for the gateway's route rules and the management API. */
import { ADMIN_ALL_SCOPE } from "../config/keys";

/** Whether `granted` satisfies a requirement of any one of `required` (admin:all satisfies every requirement). */
export function satisfies(granted: readonly string[], required: readonly string[]): boolean {
  if (granted.includes(ADMIN_ALL_SCOPE)) return true;
  for (const scope of required) if (granted.includes(scope)) return true;
  return false;
}
