// The Runs page's filters ⇄ the URL's query string: what a shared link holds is what the page shows, both ways.
import { describe, expect, it } from "vitest";
import { NO_FILTERS, isFiltered, parseRunFilters, serializeRunFilters, toRunFilter, type RunFilters } from "./runFilters";

const NOW = Date.parse("2026-12-07T12:00:00Z");

describe("run filters in the URL", () => {
  const examples: RunFilters[] = [
    NO_FILTERS,
    { ...NO_FILTERS, status: "FAILED" },
    { ...NO_FILTERS, status: "ACTIVE", trigger: "webhook", range: "24h" },
    { ...NO_FILTERS, workflow: "0b7c9a52-1f7e-4a53-9c55-2d3e0c6f9d10", startedBy: "5f0e8a7b-3c2d-4e1f-8a9b-0c1d2e3f4a5b", children: true },
    { ...NO_FILTERS, trigger: "schedule", from: "2026-12-01T00:00:00.000Z", to: "2026-12-02T00:00:00.000Z" },
    { ...NO_FILTERS, mode: "test" },
    { ...NO_FILTERS, mode: "live", status: "FAILED" },
    { ...NO_FILTERS, trigger: "error", status: "SUCCEEDED" },
  ];

  it("round-trips every filter: filters → query string → the same filters", () => {
    for (const filters of examples) {
      const query = serializeRunFilters(filters);
      expect(parseRunFilters(query)).toEqual(filters);
      // And the address is canonical: the same filters always make the same string.
      expect(serializeRunFilters(parseRunFilters(query))).toBe(query);
    }
  });

  it("writes the keys in one order and leaves the defaults out", () => {
    expect(serializeRunFilters(NO_FILTERS)).toBe("");
    expect(serializeRunFilters({ ...NO_FILTERS, children: true, range: "7d", status: "SUCCEEDED" })).toBe("status=SUCCEEDED&range=7d&children=1");
    expect(isFiltered(NO_FILTERS)).toBe(false);
    expect(isFiltered({ ...NO_FILTERS, trigger: "manual" })).toBe(true);
  });

  it("keeps a workflow page's workflow in its path, not in the query", () => {
    const filters = parseRunFilters("?status=FAILED&workflow=other", "wf-1");
    expect(filters.workflow).toBe("wf-1");
    expect(serializeRunFilters(filters, "wf-1")).toBe("status=FAILED");
    expect(isFiltered(parseRunFilters("", "wf-1"), "wf-1")).toBe(false);
  });

  it("drops what a hand-edited link cannot mean instead of breaking the page", () => {
    const filters = parseRunFilters("?status=EXPLODED&trigger=%3Cscript%3E&range=2y&from=yesterday&startedBy=a%20b&children=yes&mode=maybe&workflow=ok_id-1");
    expect(filters).toEqual({ ...NO_FILTERS, workflow: "ok_id-1" });
    // A relative range and an absolute window do not mix: the range wins.
    expect(parseRunFilters("?range=1h&from=2026-12-01T00:00:00Z")).toEqual({ ...NO_FILTERS, range: "1h" });
    // Times are normalised to UTC ISO strings.
    expect(parseRunFilters("?from=2026-12-01T01:00:00%2B01:00").from).toBe("2026-12-01T00:00:00.000Z");
  });

  it("asks the API for what the filters mean", () => {
    expect(toRunFilter(NO_FILTERS, NOW)).toEqual({ topLevel: true });
    expect(toRunFilter({ ...NO_FILTERS, status: "ACTIVE", trigger: "webhook", range: "1h", workflow: "w" }, NOW)).toEqual({
      workflowId: "w",
      status: ["QUEUED", "RUNNING", "WAITING"],
      trigger: ["webhook"],
      createdAfter: "2026-12-07T11:00:00.000Z",
      topLevel: true,
    });
    expect(toRunFilter({ ...NO_FILTERS, from: "2026-12-01T00:00:00.000Z", to: "2026-12-02T00:00:00.000Z", startedBy: "u", children: true }, NOW)).toEqual({
      createdAfter: "2026-12-01T00:00:00.000Z",
      createdBefore: "2026-12-02T00:00:00.000Z",
      startedBy: "u",
    });
    // Test or live: RunFilter.test; "all" asks for neither.
    expect(toRunFilter({ ...NO_FILTERS, mode: "test" }, NOW)).toEqual({ test: true, topLevel: true });
    expect(toRunFilter({ ...NO_FILTERS, mode: "live" }, NOW)).toEqual({ test: false, topLevel: true });
    expect(serializeRunFilters({ ...NO_FILTERS, mode: "test", children: true })).toBe("children=1&mode=test");
    // Error runs (trigger `error`) are top-level runs.
    expect(toRunFilter({ ...NO_FILTERS, trigger: "error" }, NOW)).toEqual({ trigger: ["error"], topLevel: true });
    // Child runs are what the "parent" trigger lists, whatever the checkbox says.
    expect(toRunFilter({ ...NO_FILTERS, trigger: "parent" }, NOW)).toEqual({ trigger: ["parent"] });
  });
});
