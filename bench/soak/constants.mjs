// The soak's fixed shape: the two isolates, the tenant, and the slack on every time bound.

export const TENANT = "soak";
export const ISOLATES = ["keygate", "keygate-b"];
/** The isolate that serves management traffic (and so changes state first). */
export const PRIMARY = ISOLATES[0];
/** Slack on every time bound: request in flight, second granularity of stored times. */
export const SLACK_MS = 1000;
