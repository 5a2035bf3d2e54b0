import { describe, expect, it } from "vitest";
import approve from "../../../studio_shared/examples/approve_large_orders.json";
import hello from "../../../studio_shared/examples/hello_transform.json";
import { hasInputFields, initialRunInput, parseJsonInput, schemaDefaults } from "./runInput";

const triggerSchema = (example: { definition: { nodes: { config: Record<string, unknown> }[] } }) =>
  example.definition.nodes[0]?.config.input_schema;

describe("schemaDefaults", () => {
  it("is the same as the server's (tests/shared/test_examples.py)", () => {
    expect(schemaDefaults(undefined)).toBeUndefined();
    expect(schemaDefaults({ type: "object" })).toBeUndefined();
    expect(schemaDefaults({ type: "object", default: { a: 1 } })).toEqual({ a: 1 });
    expect(schemaDefaults({ properties: { a: { default: 0 }, b: { type: "string" }, c: { default: null } } })).toEqual({ a: 0, c: null });
    expect(schemaDefaults({ properties: { o: { properties: { x: { default: [1] }, y: {} } }, e: { properties: {} } } })).toEqual({
      o: { x: [1] },
      e: {},
    });
    expect(schemaDefaults({ properties: "not an object" })).toBeUndefined();
  });

  it("copies the default: editing the form never edits the schema", () => {
    const schema = { properties: { tags: { default: ["a"] } } };
    (schemaDefaults(schema) as { tags: string[] }).tags.push("b");
    expect(schema.properties.tags.default).toEqual(["a"]);
  });

  it("fills every demo workflow's input, so its first start needs no typing", () => {
    expect(initialRunInput(triggerSchema(hello))).toEqual({ name: "world" });
    expect(initialRunInput(triggerSchema(approve))).toEqual({ order_id: "A-1001", amount: 250 });
  });
});

describe("the start dialog's input", () => {
  it("is {} without defaults", () => {
    expect(initialRunInput(undefined)).toEqual({});
    expect(initialRunInput({ type: "object" })).toEqual({});
  });

  it("has a form only when the trigger declares fields", () => {
    expect(hasInputFields(undefined)).toBe(false);
    expect(hasInputFields({ type: "object" })).toBe(false);
    expect(hasInputFields({ type: "object", properties: {} })).toBe(false);
    expect(hasInputFields(triggerSchema(hello))).toBe(true);
  });

  it("says why typed JSON does not parse", () => {
    expect(parseJsonInput(' {"a": [1]} ')).toEqual({ value: { a: [1] } });
    expect(parseJsonInput("null")).toEqual({ value: null });
    expect(parseJsonInput("")).toEqual({ problem: "Type a JSON value, such as {}" });
    expect(parseJsonInput("{a:")).toMatchObject({ problem: expect.stringMatching(/^Not valid JSON: /) });
  });
});
