// @ts-check
/**
 * The queue messages' formats: what the gateway sends the usage queue (and the consumer rolls up),
 * and what a webhook delivery message holds. Wire formats, so one home below everything that sends
 * or reads them (src/env.ts types its queues with them). Types only.
 *
 * @typedef {import("./usage.mjs").UsageOutcome} UsageOutcome
 *
 * One usage event, as a tuple (compact on the queue): time (ms), tenant and key (null unless the
 * key's signature verified), method, route rule, status, outcome, client IP, country, origin
 * latency (ms; -1 when the origin was not asked).
 * The last element, the key's scope that satisfied the route rule (accepted requests on rules with
 * scopes; src/governance/scope-usage.ts), is absent from messages older than it.
 * @typedef {[at: number, tenant: string | null, keyId: string | null, method: string, rule: string, status: number, outcome: UsageOutcome, ip: string | null, country: string | null, latencyMs: number, scope?: string | null]} UsageEvent
 *
 * A usage queue message: format version 1, the batch id (the consumer applies a batch id once), the events.
 * @typedef {{ v: 1, id: string, events: UsageEvent[] }} UsageMessage
 *
 * A webhook queue message (WEBHOOK_QUEUE): the delivery to attempt.
 * @typedef {{ delivery: string }} DeliveryMessage
 */
export {};
