import { describe, expect, it } from "vitest";
import { registry } from "../test/registry";
import type { Definition } from "./definition";
import {
  accessPath,
  applySuggestion,
  matchSuggestions,
  schemaPaths,
  templateContext,
  templateSuggestions,
  upstreamIds,
} from "./templatePaths";

const types = new Map(registry.map((t) => [t.type, t]));

const def: Definition = {
  nodes: [
    {
      id: "start",
      type: "trigger.manual",
      config: {
        input_schema: {
          type: "object",
          properties: { amount: { type: "number", description: "How much" }, customer: { type: "object", properties: { name: { type: "string" } } } },
        },
      },
    },
    { id: "fetch", type: "http.request", config: { url: "https://x.org" } },
    { id: "ask-boss", type: "human.approval", config: { title: "ok?" } },
    { id: "reply", type: "message.reply", config: { channel: "c", text: "" } },
    { id: "elsewhere", type: "llm.chat", config: {} },
  ],
  edges: [
    { source: "start", target: "fetch" },
    { source: "fetch", target: "ask-boss" },
    { source: "ask-boss", target: "reply", branch: "approved" },
    { source: "start", target: "elsewhere" },
  ],
};

describe("template paths", () => {
  it("offers every wait.event step's resume URL, to any node (it is known from the run's start)", () => {
    const withWaits: Definition = {
      nodes: [...def.nodes, { id: "paid", type: "wait.event", config: {} }, { id: "signed-off", type: "wait.event", config: {} }],
      edges: [...(def.edges ?? []), { source: "reply", target: "paid" }],
    };
    const paths = templateSuggestions(withWaits, "fetch", types).map((s) => s.path);
    expect(paths).toContain("run.resume_urls.paid");
    expect(paths).toContain("run.resume_urls['signed-off']");
    expect(templateSuggestions(def, "fetch", types).some((s) => s.path.startsWith("run.resume_urls"))).toBe(false);
  });

  it("finds the nodes upstream of a node, in definition order", () => {
    expect(upstreamIds(def, "reply")).toEqual(["start", "fetch", "ask-boss"]);
    expect(upstreamIds(def, "start")).toEqual([]);
    expect(upstreamIds(def, "elsewhere")).toEqual(["start"]);
  });

  it("offers input fields from the trigger's input_schema and the outputs of upstream nodes only", () => {
    const paths = templateSuggestions(def, "reply", types).map((s) => s.path);
    expect(paths).toContain("input");
    expect(paths).toContain("input.amount");
    expect(paths).toContain("input.customer.name");
    expect(paths).toContain("steps.fetch.output.status");
    expect(paths).toContain("steps.fetch.output.body");
    // A trigger's output is the run input.
    expect(paths).toContain("steps.start.output.amount");
    // An id that is not a plain name is read with brackets.
    expect(paths).toContain("steps['ask-boss'].output.decision");
    expect(paths).toContain("run.id");
    // Not upstream of `reply`: neither itself nor a sibling branch.
    expect(paths.some((p) => p.includes("elsewhere") || p.includes("steps.reply"))).toBe(false);
    expect(templateSuggestions(def, "elsewhere", types).some((s) => s.path.startsWith("steps.fetch"))).toBe(false);
  });

  it("falls back to the trigger type's output schema when there is no input_schema", () => {
    const msg: Definition = {
      nodes: [
        { id: "in", type: "trigger.message", config: { channel: "support" } },
        { id: "out", type: "message.reply", config: {} },
      ],
      edges: [{ source: "in", target: "out" }],
    };
    const paths = templateSuggestions(msg, "out", types).map((s) => s.path);
    expect(paths).toContain("input.text");
    expect(paths).toContain("steps.in.output.text");
  });

  it("describes schema properties, bracketing keys that are not names", () => {
    expect(accessPath("input", "a b")).toBe("input['a b']");
    expect(accessPath("input", "it's")).toBe("input['it\\'s']");
    expect(schemaPaths({ properties: { n: { type: ["string", "null"], description: "N" } } }, "x")).toEqual([
      { path: "x.n", detail: "string | null · N" },
    ]);
    expect(schemaPaths({ title: "no properties" }, "x")).toEqual([]);
  });

  it("knows when the caret is inside {{ … }} and what has been typed", () => {
    expect(templateContext("Hello {{ ", 9)).toEqual({ query: "", from: 9, to: 9, closed: false });
    expect(templateContext("{{ steps.fe }} tail", 11)).toEqual({ query: "steps.fe", from: 3, to: 11, closed: true });
    // The caret in the middle of a path: the whole path is replaced.
    expect(templateContext("{{ input.amo }}", 6)).toMatchObject({ query: "inp", from: 3, to: 12 });
    expect(templateContext("{{ a }} then", 10)).toBeNull();
    expect(templateContext("plain text", 5)).toBeNull();
    expect(templateContext("{{ a }} {{ b", 12)).toMatchObject({ query: "b", closed: false });
  });

  it("matches prefixes first, then substrings, and skips what is already complete", () => {
    const all = [{ path: "input.amount", detail: "" }, { path: "input.customer.amount", detail: "" }, { path: "run.id", detail: "" }];
    expect(matchSuggestions(all, "input.am").map((s) => s.path)).toEqual(["input.amount"]);
    expect(matchSuggestions(all, "amount").map((s) => s.path)).toEqual(["input.amount", "input.customer.amount"]);
    expect(matchSuggestions(all, "RUN").map((s) => s.path)).toEqual(["run.id"]);
    expect(matchSuggestions(all, "run.id")).toEqual([]);
    expect(matchSuggestions(all, "", 2).length).toBe(2);
  });

  it("inserts the chosen path, closing the expression when needed", () => {
    const open = "Hi {{ inp";
    expect(applySuggestion(open, templateContext(open, open.length)!, "input.name")).toEqual({
      text: "Hi {{ input.name }}",
      caret: 19,
    });
    const tight = "{{";
    expect(applySuggestion(tight, templateContext(tight, 2)!, "run.id").text).toBe("{{ run.id }}");
    const closed = "{{ steps.f }} and more";
    const r = applySuggestion(closed, templateContext(closed, 10)!, "steps.fetch.output");
    expect(r).toEqual({ text: "{{ steps.fetch.output }} and more", caret: 21 });
    const tightClosed = "{{x}}";
    expect(applySuggestion(tightClosed, templateContext(tightClosed, 3)!, "input.x").text).toBe("{{ input.x }}");
  });
});
