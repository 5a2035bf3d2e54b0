import { describe, expect, it } from "vitest";
import type { Definition } from "./definition";
import { mapUserErrors, toErrorSchema } from "./errors";

const def: Definition = {
  nodes: [
    { id: "t", type: "trigger.manual", config: {} },
    { id: "c", type: "condition", config: {} },
    { id: "h", type: "http.request", config: { url: 5 } },
  ],
  edges: [
    { source: "t", target: "c" },
    { source: "c", target: "h" },
    { source: "c", target: "zz", branch: "true" },
  ],
};

// What validateDefinition answers for `def` (studio_shared.definition.validate_definition), verbatim.
const serverErrors = [
  { path: ["nodes", "1", "config"], message: '"expression" is a required property', code: "INVALID_CONFIG" },
  { path: ["nodes", "2", "config", "url"], message: "must be string, not integer", code: "INVALID_CONFIG" },
  { path: ["edges", "1"], message: "edges leaving 'c' (condition) need a branch: one of true, false", code: "MISSING_BRANCH" },
  { path: ["edges", "2", "target"], message: "edge target 'zz' is not a node id", code: "UNKNOWN_NODE" },
  { path: ["nodes"], message: "a workflow needs exactly one trigger node; found 2: a, b", code: "TRIGGER_COUNT" },
];

describe("mapUserErrors", () => {
  const mapped = mapUserErrors(serverErrors, def);

  it("puts config problems on the node and field they belong to", () => {
    expect(mapped.byNode.h).toEqual([{ message: "must be string, not integer", code: "INVALID_CONFIG", field: ["url"] }]);
    // A missing required key is reported on its object; the field is the key itself.
    expect(mapped.byNode.c?.[0]?.field).toEqual(["expression"]);
  });

  it("shows edge problems on the edge and on the node the edge leaves", () => {
    expect(Object.keys(mapped.byEdge)).toEqual(["1", "2"]);
    expect(mapped.byEdge[2]?.[0]?.field).toEqual(["target"]);
    expect(mapped.byNode.c?.map((p) => p.code)).toEqual(["INVALID_CONFIG", "MISSING_BRANCH", "UNKNOWN_NODE"]);
  });

  it("keeps workflow-wide problems general", () => {
    expect(mapped.general.map((p) => p.code)).toEqual(["TRIGGER_COUNT"]);
    expect(mapped.byNode.t).toBeUndefined();
  });

  it("accepts paths under a `definition` argument and node-level keys", () => {
    const m = mapUserErrors(
      [
        { path: ["definition", "nodes", "2", "config", "url"], message: "bad", code: "X" },
        { path: ["nodes", "0", "id"], message: "bad id", code: "INVALID_SCHEMA" },
        { path: ["nodes", "9", "config"], message: "gone", code: "X" },
      ],
      def,
    );
    expect(m.byNode.h?.[0]?.field).toEqual(["url"]);
    expect(m.byNode.t?.[0]?.field).toEqual(["@id"]);
    expect(m.general.map((p) => p.message)).toEqual(["gone"]);
  });
});

describe("toErrorSchema", () => {
  it("leaves warnings out of the form's field errors", () => {
    expect(
      toErrorSchema([
        { message: "undeclared field", code: "UNDECLARED_FIELD", field: ["url"], warning: true },
        { message: "unknown filter", code: "UNKNOWN_FILTER", field: ["url"] },
      ]),
    ).toEqual({ url: { __errors: ["unknown filter"] } });
  });

  it("maps a WARNING's severity onto the problem", () => {
    const def = { nodes: [{ id: "a", type: "transform", config: {} }], edges: [] };
    const path = ["nodes", "0", "config", "value"];
    expect(mapUserErrors([{ path, message: "m", code: "C", severity: "WARNING" }], def).byNode.a).toEqual([
      { message: "m", code: "C", field: ["value"], warning: true },
    ]);
    expect(mapUserErrors([{ path, message: "m", code: "C", severity: "ERROR" }], def).byNode.a).toEqual([
      { message: "m", code: "C", field: ["value"] },
    ]);
  });

  it("builds rjsf extraErrors for config fields and skips node-level keys", () => {
    expect(
      toErrorSchema([
        { message: "must be string", code: "X", field: ["url"] },
        { message: "too long", code: "X", field: ["headers", "a"] },
        { message: "bad id", code: "X", field: ["@id"] },
        { message: "whole config", code: "X", field: [] },
      ]),
    ).toEqual({ url: { __errors: ["must be string"] }, headers: { a: { __errors: ["too long"] } }, __errors: ["whole config"] });
  });
});
