import { describe, expect, it } from "vitest";
import { countdown, elapsed, formatDuration } from "./time";

describe("durations and countdowns", () => {
  it("reads as people say them", () => {
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(4_250)).toBe("4.3 s");
    expect(formatDuration(42_000)).toBe("42 s");
    expect(formatDuration(245_000)).toBe("4 min 05 s");
    expect(formatDuration(7_380_000)).toBe("2 h 03 min");
    expect(formatDuration(4 * 86_400_000 + 3_600_000)).toBe("4 d 1 h");
    expect(formatDuration(-1)).toBe("—");
  });

  it("counts a live duration up and a wake time down", () => {
    const now = Date.parse("2026-12-07T12:00:10Z");
    expect(elapsed("2026-12-07T12:00:00Z", null, now)).toBe(10_000);
    expect(elapsed("2026-12-07T12:00:00Z", "2026-12-07T12:00:02Z", now)).toBe(2_000);
    expect(elapsed(null, null, now)).toBeNull();
    expect(countdown("2026-12-07T12:00:52Z", now)).toBe("in 42 s");
    expect(countdown("2026-12-07T12:00:52.300Z", now)).toBe("in 43 s");
    expect(countdown("2026-12-07T12:00:00Z", now)).toBe("now");
  });
});
