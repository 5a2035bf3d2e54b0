import { describe, expect, it, vi } from "vitest";
import type { RunEvent } from "../api/types";
import { followRunEvents, retryDelay, type EventSink } from "./runEventsStream";

type Data = { runEvents?: RunEvent | null };

/** A fake graphql-ws: records every subscription (its variables, its sink, whether it was unsubscribed). */
function fakeSocket() {
  const subs: { variables: Record<string, unknown>; sink: EventSink<Data>; unsubscribed: boolean }[] = [];
  const connected: (() => void)[] = [];
  const subscribe = vi.fn((payload: { query: string; variables: Record<string, unknown> }, sink: EventSink<Data>) => {
    const sub = { variables: payload.variables, sink, unsubscribed: false };
    subs.push(sub);
    return () => {
      sub.unsubscribed = true;
    };
  });
  const watchConnected = (listener: () => void) => {
    connected.push(listener);
    return () => connected.splice(connected.indexOf(listener), 1);
  };
  return { subs, subscribe, watchConnected, connect: () => connected.forEach((l) => l()), listeners: connected };
}

/** Timers the test fires by hand. */
function manualTimers() {
  const pending: { fn: () => void; ms: number; cleared: boolean }[] = [];
  return {
    pending,
    setTimer: (fn: () => void, ms: number) => {
      const t = { fn, ms, cleared: false };
      pending.push(t);
      return t;
    },
    clearTimer: (t: unknown) => {
      (t as { cleared: boolean }).cleared = true;
    },
    fireNext() {
      const t = pending.find((p) => !p.cleared);
      if (!t) throw new Error("no timer pending");
      t.cleared = true;
      t.fn();
      return t.ms;
    },
  };
}

const ev = (seq: number, extra: Partial<RunEvent> = {}): { data: Data } => ({
  data: { runEvents: { seq, kind: "STEP_SUCCEEDED", stepId: `s${seq}`, status: "SUCCEEDED", at: "2026-01-01T00:00:00Z", final: false, data: null, ...extra } },
});

function follow(afterSeq = 0) {
  const socket = fakeSocket();
  const timers = manualTimers();
  const applied: number[] = [];
  const onSettle = vi.fn();
  const states: string[] = [];
  const stop = followRunEvents<Data>(socket.subscribe, {
    runId: "r1",
    query: "subscription RunEvents { … }",
    afterSeq,
    onEvent: (e) => applied.push(e.seq),
    onSettle,
    onConnection: (s) => states.push(s),
    watchConnected: socket.watchConnected,
    setTimer: timers.setTimer,
    clearTimer: timers.clearTimer,
  });
  return { socket, timers, applied, onSettle, states, stop };
}

describe("followRunEvents", () => {
  it("subscribes from the seq it was given and applies each new event once", () => {
    const f = follow(4);
    expect(f.socket.subs[0]!.variables).toEqual({ runId: "r1", afterSeq: 4 });
    for (const seq of [3, 4, 5, 6, 6]) f.socket.subs[0]!.sink.next(ev(seq));
    expect(f.applied).toEqual([5, 6]);
  });

  it("after a dropped socket: settles at once, then re-subscribes after the last seq applied", () => {
    const f = follow();
    const first = f.socket.subs[0]!;
    [1, 2, 3].forEach((seq) => first.sink.next(ev(seq)));
    first.sink.error({ code: 1006, reason: "" }); // the socket dropped
    expect(f.onSettle).toHaveBeenCalledTimes(1);
    expect(f.states).toEqual(["live", "reconnecting"]);
    expect(f.socket.subs).toHaveLength(1); // not before the backoff

    expect(f.timers.fireNext()).toBe(1000);
    const second = f.socket.subs[1]!;
    expect(second.variables).toEqual({ runId: "r1", afterSeq: 3 });
    // The server replays from there; a late message of the dead subscription changes nothing.
    first.sink.next(ev(4));
    [3, 4, 5].forEach((seq) => second.sink.next(ev(seq)));
    expect(f.applied).toEqual([1, 2, 3, 4, 5]);
    expect(f.states).toEqual(["live", "reconnecting", "live"]);
  });

  it("backs off while the socket stays down and resumes from the same seq each time", () => {
    const f = follow(7);
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      f.socket.subs.at(-1)!.sink.error(new Error("connection refused"));
      waits.push(f.timers.fireNext());
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(f.socket.subs.map((s) => s.variables.afterSeq)).toEqual([7, 7, 7, 7, 7, 7, 7]);
    expect(f.onSettle).toHaveBeenCalledTimes(6);
    // A socket is back: the connection shows live again even before an event, and the backoff starts over.
    f.socket.connect();
    expect(f.states.at(-1)).toBe("live");
    expect(f.onSettle).toHaveBeenCalledTimes(7); // and the run's state is read again
    f.socket.connect(); // another socket of the client: nothing more to do
    expect(f.onSettle).toHaveBeenCalledTimes(7);
    f.socket.subs.at(-1)!.sink.error(new Error("dropped again"));
    expect(f.timers.fireNext()).toBe(1000);
  });

  it("settles when the stream completes (the run's final event) and does not re-subscribe", () => {
    const f = follow();
    f.socket.subs[0]!.sink.next(ev(1, { kind: "RUN_SUCCEEDED", stepId: null, final: true }));
    f.socket.subs[0]!.sink.complete();
    expect(f.onSettle).toHaveBeenCalledTimes(1);
    expect(f.timers.pending).toHaveLength(0);
    expect(f.socket.subs).toHaveLength(1);
  });

  it("stop unsubscribes, cancels a pending re-subscription and ignores anything later", () => {
    const f = follow();
    f.socket.subs[0]!.sink.error(new Error("dropped"));
    f.stop();
    expect(f.timers.pending.every((t) => t.cleared)).toBe(true);
    expect(f.socket.listeners).toHaveLength(0);
    f.socket.subs[0]!.sink.next(ev(9));
    expect(f.applied).toEqual([]);

    const g = follow();
    g.stop();
    expect(g.socket.subs[0]!.unsubscribed).toBe(true);
    g.socket.subs[0]!.sink.error(new Error("closed by stop"));
    expect(g.onSettle).not.toHaveBeenCalled();
    expect(g.timers.pending).toHaveLength(0);
  });

  it("passes STEP_DELTA through whatever its seq, without moving the resume point", () => {
    const socket = fakeSocket();
    const applied: number[] = [];
    const deltas: string[] = [];
    followRunEvents<Data>(socket.subscribe, {
      runId: "r1",
      query: "subscription RunEvents { … }",
      afterSeq: 0,
      onEvent: (e) => applied.push(e.seq),
      onDelta: (e) => deltas.push((e.data as { text: string }).text),
      onSettle: vi.fn(),
    });
    const sink = socket.subs[0]!.sink;
    sink.next(ev(1));
    sink.next(ev(1, { kind: "STEP_DELTA", status: null, data: { text: "Hel", call: 0 } }));
    sink.next(ev(1, { kind: "STEP_DELTA", status: null, data: { text: "Hello", call: 0 } }));
    sink.next(ev(2));
    expect(deltas).toEqual(["Hel", "Hello"]);
    expect(applied).toEqual([1, 2]);
  });

  it("retryDelay doubles from 1 s up to 10 s", () => {
    expect([1, 2, 3, 4, 5, 9].map(retryDelay)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
});
