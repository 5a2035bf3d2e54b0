// Durations and countdowns as people read them, and a clock that ticks only while something on screen is live.
import { useEffect, useState } from "react";

/** 850 → "850 ms", 12_300 → "12.3 s", 245_000 → "4 min 05 s", 7_380_000 → "2 h 03 min", 4 days → "4 d 0 h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.floor(seconds)} s`;
  const total = Math.floor(seconds);
  const [d, h, m, s] = [Math.floor(total / 86_400), Math.floor(total / 3600) % 24, Math.floor(total / 60) % 60, total % 60];
  const two = (n: number) => String(n).padStart(2, "0");
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${two(m)} min`;
  return `${m} min ${two(s)} s`;
}

/** A run's or step's duration: finished − started, or now − started while it is still going; null before it starts. */
export function elapsed(startedAt: string | null | undefined, finishedAt: string | null | undefined, now: number): number | null {
  if (!startedAt) return null;
  const start = Date.parse(startedAt);
  const end = finishedAt ? Date.parse(finishedAt) : now;
  return Number.isNaN(start) || Number.isNaN(end) ? null : Math.max(0, end - start);
}

/** "in 42 s", "in 3 min 10 s"; "now" once the moment has come (the engine picks it up within its sweep). */
export function countdown(until: string, now: number): string {
  const left = Date.parse(until) - now;
  if (Number.isNaN(left)) return "—";
  return left <= 0 ? "now" : `in ${formatDuration(Math.ceil(left / 1000) * 1000)}`;
}

/** The current time, re-read every `intervalMs` while `live` (a finished run's page does not tick). */
export function useNow(live: boolean, intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!live) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [live, intervalMs]);
  return now;
}

/** A time as the viewer's locale writes it, for a `<time>` element. */
export function formatWhen(iso: string | null | undefined): string {
  if (!iso) return "—";
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? "—" : at.toLocaleString();
}
