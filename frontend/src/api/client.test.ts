// The graphql-ws client of createApi against a fake socket: a dropped or silent socket ends the subscription
// with an error (its owner re-subscribes), graphql-ws itself never re-sends it.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { KEEP_ALIVE_MS, PONG_TIMEOUT_MS, createApi } from "./client";

class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static all: FakeSocket[] = [];
  readyState = FakeSocket.CONNECTING;
  sent: { type: string; id?: string; payload?: unknown }[] = [];
  onopen: (() => void) | null = null;
  onclose: ((e: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocol: string,
  ) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000, reason = "") {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason, wasClean: true });
  }
  // The server's side.
  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }
  receive(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop() {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code: 1006, reason: "", wasClean: false });
  }
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
  vi.stubGlobal("WebSocket", FakeSocket);
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

async function subscribed() {
  const { ws } = createApi(() => "tok", () => {});
  const sink = { next: vi.fn(), error: vi.fn(), complete: vi.fn() };
  ws.subscribe({ query: "subscription { runEvents(runId: 1) { seq } }" }, sink);
  await flush();
  const socket = FakeSocket.all[0]!;
  socket.open();
  await flush();
  expect(socket.sent[0]).toEqual({ type: "connection_init", payload: { authorization: "Bearer tok" } });
  socket.receive({ type: "connection_ack" });
  await flush();
  expect(socket.sent.map((m) => m.type)).toEqual(["connection_init", "subscribe"]);
  return { sink, socket };
}

describe("createApi's websocket", () => {
  it("ends the subscription with an error when the socket drops, and opens no socket by itself", async () => {
    const { sink, socket } = await subscribed();
    socket.drop();
    await flush();
    expect(sink.error).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it("pings while open and closes a socket whose pong does not come back", async () => {
    const { sink, socket } = await subscribed();
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    expect(socket.sent.at(-1)).toEqual({ type: "ping" });
    socket.receive({ type: "pong" }); // answered: nothing happens, the next ping is queued
    await vi.advanceTimersByTimeAsync(PONG_TIMEOUT_MS + 1);
    expect(sink.error).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(KEEP_ALIVE_MS);
    expect(socket.sent.filter((m) => m.type === "ping")).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(PONG_TIMEOUT_MS + 1); // no answer this time
    expect(sink.error).toHaveBeenCalledTimes(1);
    expect(socket.readyState).toBe(FakeSocket.CLOSED);
  });
});
