import { describe, expect, it } from "vitest";
import { nodeType, registry } from "../test/registry";
import { branchesOf, groupByCategory } from "./nodeTypes";

describe("node types from the registry", () => {
  it("groups the palette by category, triggers first", () => {
    const groups = groupByCategory(registry);
    expect(groups[0]?.[0]).toBe("Triggers");
    expect(groups.flatMap(([, list]) => list).length).toBe(registry.length);
    expect(groups.find(([c]) => c === "Logic")?.[1].map((t) => t.type)).toContain("condition");
  });

  it("reads fixed and dynamic branches", () => {
    expect(branchesOf(nodeType("condition"), {})).toEqual(["true", "false"]);
    expect(branchesOf(nodeType("human.approval"), {})).toEqual(["approved", "rejected"]);
    expect(branchesOf(nodeType("transform"), {})).toEqual([]);
    expect(branchesOf(nodeType("switch"), { cases: ["a", "b", "a", ""] })).toEqual(["a", "b", "default"]);
    expect(branchesOf(nodeType("switch"), {})).toEqual(["default"]);
  });
});
