import { describe, expect, it } from "vitest";
import { codeCompletions, codeLanguage, codePath, codeSuggestions, pathSegments } from "./codePaths";
import type { TemplateSuggestion } from "./templatePaths";

const SCHEMA = { properties: { language: { type: "string", enum: ["javascript", "python"], default: "javascript" } } };

describe("codeLanguage", () => {
  it("reads the sibling field the schema names, else that field's default", () => {
    expect(codeLanguage(SCHEMA, "language", { language: "python" })).toBe("python");
    expect(codeLanguage(SCHEMA, "language", {})).toBe("javascript");
    expect(codeLanguage(SCHEMA, "language", undefined)).toBe("javascript");
  });

  it("is plain text without a language field or for a language it does not know", () => {
    expect(codeLanguage(SCHEMA, undefined, { language: "python" })).toBeNull();
    expect(codeLanguage(SCHEMA, "language", { language: "ruby" })).toBeNull();
    expect(codeLanguage({}, "language", {})).toBeNull();
  });
});

describe("paths in code", () => {
  it("splits template paths into keys", () => {
    expect(pathSegments("input.order.id")).toEqual(["input", "order", "id"]);
    expect(pathSegments("steps['my-node'].output.x")).toEqual(["steps", "my-node", "output", "x"]);
    expect(pathSegments("input['it\\'s']")).toEqual(["input", "it's"]);
    expect(pathSegments("input..x")).toBeNull();
    expect(pathSegments(".input")).toBeNull();
  });

  it("writes them as JavaScript reads them: dotted, brackets for other keys", () => {
    expect(codePath(["steps", "fetch", "output", "x"], "javascript")).toBe("steps.fetch.output.x");
    expect(codePath(["steps", "my-node", "output", "it's"], "javascript")).toBe("steps['my-node'].output['it\\'s']");
  });

  it("writes them as Python reads them: dict subscripts", () => {
    expect(codePath(["steps", "fetch", "output", "x"], "python")).toBe('steps["fetch"]["output"]["x"]');
    expect(codePath(["input", 'say "hi"'], "python")).toBe('input["say \\"hi\\""]');
    expect(codePath(["run", "id"], "python")).toBe('run["id"]');
  });

  it("rewrites a node's template suggestions, keeping their details", () => {
    const s: TemplateSuggestion[] = [
      { path: "input", detail: "the run input" },
      { path: "steps['a-b'].output.n", detail: "integer" },
    ];
    expect(codeSuggestions(s, "python")).toEqual([
      { path: "input", detail: "the run input" },
      { path: 'steps["a-b"]["output"]["n"]', detail: "integer" },
    ]);
  });
});

describe("codeCompletions", () => {
  const paths: TemplateSuggestion[] = [
    { path: "input", detail: "" },
    { path: "input.order", detail: "object" },
    { path: "input.order.id", detail: "string" },
    { path: "steps.fetch.output", detail: "output of http.request" },
    { path: "steps.fetch.output.status", detail: "integer" },
    { path: "run.id", detail: "string" },
  ];

  it("offers the paths that start with the word being typed, replacing it from its start", () => {
    const text = "function main(input, steps, run) {\n  return steps.fe";
    const found = codeCompletions(text, text.length, paths, false)!;
    expect(found.from).toBe(text.length - "steps.fe".length);
    expect(found.options.map((o) => o.path)).toEqual(["steps.fetch.output", "steps.fetch.output.status"]);
  });

  it("offers nothing unasked at an empty word, inside another object's property, or for a finished path", () => {
    expect(codeCompletions("x = ", 4, paths, false)).toBeNull();
    expect(codeCompletions("foo.inp", 7, paths, false)).toBeNull();
    expect(codeCompletions("a = run.id", 10, paths, false)).toBeNull();
    expect(codeCompletions("a = zzz", 7, paths, false)).toBeNull();
  });

  it("when asked (Ctrl-Space), lists every path at an empty word and the ones containing the word", () => {
    expect(codeCompletions("x = ", 4, paths, true)!.options).toHaveLength(paths.length);
    const found = codeCompletions("x = status", 10, paths, true)!;
    expect(found.options.map((o) => o.path)).toEqual(["steps.fetch.output.status"]);
    expect(found.from).toBe(4);
  });

  it("matches Python's subscripts as typed, quotes included", () => {
    const py = codeSuggestions(paths, "python");
    const text = 'return steps["fetch"]["output"]["st';
    const found = codeCompletions(text, text.length, py, false)!;
    expect(found.options.map((o) => o.path)).toEqual(['steps["fetch"]["output"]["status"]']);
    expect(found.from).toBe("return ".length);
  });
});
