/** Audit's config section: how long entries and the operator's refusal counts are kept. */
import { integerVar, perEnv } from "../config/read";

/** Days audit entries and refusal counts are kept before the cron prunes them. */
export const auditRetentionDays = perEnv((env): number => integerVar(env, "AUDIT_RETENTION_DAYS"));
