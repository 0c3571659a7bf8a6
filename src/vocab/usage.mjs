// @ts-check
/**
 * What a usage event's outcome can be (the usage API and the console's chart count them) and the
 * roll-up's granularities. Plain ESM with JSDoc types, like every vocabulary (see
 * src/vocab/key-status.mjs); imports only another vocabulary.
 */
import { REFUSAL_REASONS } from "./refusals.mjs";

/** What a usage event's outcome can be: accepted, a refusal reason, or the origin failing keygate's forward. */
export const USAGE_OUTCOMES = /** @type {const} */ (["accepted", ...REFUSAL_REASONS, "bad_gateway", "gateway_timeout"]);
/** @typedef {(typeof USAGE_OUTCOMES)[number]} UsageOutcome */

/** The usage roll-up's granularities (the `granularity` column and query parameter). */
export const GRANULARITY_NAMES = /** @type {const} */ (["minute", "hour", "day"]);
/** @typedef {(typeof GRANULARITY_NAMES)[number]} Granularity */

/**
 * Each granularity's step, in seconds.
 * @type {Readonly<Record<Granularity, number>>}
 */
export const GRANULARITIES = { minute: 60, hour: 3600, day: 86_400 };
