/** A key's (or group's) quota: the limit per period, what remains of it, and when it refills. */
import type { QuotaView } from "../lib/types";
import { Time } from "./time";

const PER: Record<QuotaView["period"], string> = { day: "per day", month: "per month", none: "in all" };

export function QuotaState({ quota, now }: { quota: QuotaView; now: number }) {
  return (
    <>
      {quota.limit.toLocaleString()} calls {PER[quota.period]}
      {quota.remaining !== undefined ? (
        <>
          {" "}
          · <strong data-quota-remaining>{quota.remaining.toLocaleString()}</strong> left
          {quota.credited ? <span class="muted"> ({quota.credited.toLocaleString()} credited)</span> : null}
        </>
      ) : null}
      {quota.resets_at === null ? (
        <span class="muted"> · never refills</span>
      ) : quota.resets_at !== undefined ? (
        <>
          {" "}
          · resets <Time at={quota.resets_at} now={now} />
        </>
      ) : null}
    </>
  );
}
