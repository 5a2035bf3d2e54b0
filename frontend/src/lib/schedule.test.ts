import { describe, expect, it } from "vitest";
import { describeCron, emptySchedule, formatFire, scheduleInput, scheduleValues } from "./schedule";

describe("describeCron", () => {
  it("describes 5-field expressions and the studio's aliases", () => {
    expect(describeCron("0 9 * * 1-5")).toEqual({ ok: true, text: "At 09:00, Monday through Friday" });
    expect(describeCron("  */15   * * * * ")).toEqual({ ok: true, text: "Every 15 minutes" });
    expect(describeCron("@midnight")).toEqual({ ok: true, text: "At 00:00" });
  });

  it("reads a 6th field as seconds, last (croniter's order)", () => {
    expect(describeCron("* * * * * */10")).toEqual({ ok: true, text: "Every 10 seconds" });
  });

  it("says nothing it cannot describe", () => {
    expect(describeCron("").ok).toBe(false);
    expect(describeCron("every day").ok).toBe(false);
  });
});

describe("formatFire", () => {
  it("shows an instant on the wall clock of the chosen zone, with its offset", () => {
    // 07:00 UTC is 09:00 in Berlin in summer (CEST, +2) and 08:00 in winter (CET, +1).
    expect(formatFire("2025-06-02T07:00:00Z", "Europe/Berlin", "en-US")).toMatch(/Mon, Jun 2, 2025.*09:00:00.*GMT\+2/);
    expect(formatFire("2025-01-06T07:00:00Z", "Europe/Berlin", "en-US")).toMatch(/Mon, Jan 6, 2025.*08:00:00.*GMT\+1/);
    expect(formatFire("2025-06-02T07:00:00Z", "America/New_York", "en-US")).toMatch(/03:00:00.*EDT/);
  });

  it("falls back to UTC for a zone the browser does not know", () => {
    expect(formatFire("2025-06-02T07:00:00Z", "Mars/Olympus", "en-US")).toMatch(/07:00:00.*UTC/);
  });
});

describe("scheduleInput", () => {
  it("parses the run input and numbers; empty means null or the default", () => {
    const v = { ...emptySchedule("Europe/Berlin"), cron: " 0 9 * * 1-5 ", input: '{"amount": 5}', catchUpWindowS: "600" };
    expect(scheduleInput(v)).toEqual({
      input: {
        cron: "0 9 * * 1-5",
        timezone: "Europe/Berlin",
        input: { amount: 5 },
        overlap: "skip",
        catchUp: "skip",
        catchUpWindowS: 600,
        jitterS: 0,
        enabled: true,
      },
    });
    const blank = scheduleInput({ ...v, input: "", catchUpWindowS: "" });
    expect("input" in blank && blank.input.input).toBeNull();
    expect("input" in blank && blank.input.catchUpWindowS).toBeNull();
  });

  it("names the field that is not JSON", () => {
    expect(scheduleInput({ ...emptySchedule("UTC"), cron: "@daily", input: "{" })).toEqual({
      field: "input",
      message: "the run input is not valid JSON",
    });
  });

  it("round-trips a stored schedule through the form values", () => {
    const stored = { cron: "0 * * * *", timezone: "UTC", input: { a: 1 }, overlap: "allow", catchUp: "latest", catchUpWindowS: null, jitterS: 5, enabled: false };
    const back = scheduleInput(scheduleValues(stored));
    expect("input" in back && back.input).toEqual(stored);
  });
});
