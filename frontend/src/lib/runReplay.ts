// Opening the run monitor mid-run: the subscription replays the run's stored events from the start before the live
// ones. Applied one by one, the replay would walk the screen back through every earlier status (the badge flickers
// from the loaded "RUNNING" to "QUEUED" and on). Instead the replay is held back until it reaches the last event
// stored when the page opened, and then applied at once: the screen goes from the loaded state to the caught-up one.
import type { Client } from "urql";
import { RUN_EVENT_SEQS } from "../api/operations";
import type { RunEvent } from "../api/types";

/** The server's page size of `Run.events`. */
export const EVENTS_PAGE = 5000;

/** The seq of the run's last stored event (0: none, or it could not be read: then nothing is held back). */
export async function lastStoredSeq(client: Client, runId: string): Promise<number> {
  let last = 0;
  try {
    for (;;) {
      const res = await client.query(RUN_EVENT_SEQS, { id: runId, afterSeq: last || null }, { requestPolicy: "network-only" }).toPromise();
      const seqs = res.data?.run?.events.map((e) => e.seq) ?? [];
      if (!seqs.length) return last;
      last = Math.max(last, ...seqs);
      if (seqs.length < EVENTS_PAGE) return last;
    }
  } catch {
    return last;
  }
}

/**
 * Holds events back until the one with seq `until` (or a later or final one) arrives, then hands them all over as one
 * batch; from then on each event passes at once. Returns the events to apply now (empty while holding back).
 */
export function replayGate(until: number): (event: RunEvent) => RunEvent[] {
  let held: RunEvent[] = [];
  let open = until <= 0;
  return (event) => {
    if (open) return [event];
    if (event.seq < until && !event.final) {
      held.push(event);
      return [];
    }
    open = true;
    const batch = [...held, event];
    held = [];
    return batch;
  };
}
