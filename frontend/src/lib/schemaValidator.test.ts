import { describe, expect, it } from "vitest";
import { InterpretingValidator, propertyPath } from "./schemaValidator";

const schema = {
  type: "object",
  required: ["amount", "who"],
  properties: {
    amount: { type: "number", minimum: 1 },
    who: { type: "string", minLength: 2 },
    tags: { type: "array", items: { type: "string" } },
    kind: { enum: ["a", "b"] },
    choice: { anyOf: [{ type: "string" }, { type: "integer" }] },
  },
  additionalProperties: false,
} as const;

describe("InterpretingValidator", () => {
  const validator = new InterpretingValidator();

  it("reports each failing field once, where rjsf shows it, in Ajv's words", () => {
    const { errors, errorSchema } = validator.validateFormData(
      { amount: "x", tags: ["ok", 3], kind: "c", choice: true, extra: 1 },
      schema as never,
    );
    const byProperty = Object.fromEntries(errors.map((e) => [e.property, e.message]));
    expect(byProperty[".who"]).toBe("must have required property 'who'");
    expect(byProperty[".amount"]).toBe("must be number");
    expect(byProperty[".tags.1"]).toBe("must be string");
    expect(byProperty[".kind"]).toMatch(/does not match any of/);
    expect(byProperty[".choice"]).toMatch(/does not match any subschema|does not match/);
    expect(byProperty[".extra"]).toBe("is not allowed here");
    expect(errors.filter((e) => e.property === ".choice")).toHaveLength(1); // not the failures of each alternative
    expect((errorSchema as Record<string, { __errors?: string[] }>).who?.__errors).toEqual(["must have required property 'who'"]);
  });

  it("accepts valid data and answers isValid with references into the root schema", () => {
    expect(validator.validateFormData({ amount: 2, who: "ada" }, schema as never).errors).toEqual([]);
    const root = { $defs: { name: { type: "string" } }, properties: { n: { $ref: "#/$defs/name" } } };
    expect(validator.isValid({ $ref: "#/$defs/name" }, "x", root as never)).toBe(true);
    expect(validator.isValid({ $ref: "#/$defs/name" }, 3, root as never)).toBe(false);
  });

  it("never generates code (the CSP has no 'unsafe-eval')", () => {
    const original = globalThis.Function;
    const refused = () => {
      throw new EvalError("Refused to evaluate a string as JavaScript");
    };
    globalThis.Function = refused as unknown as FunctionConstructor;
    try {
      expect(validator.validateFormData({ amount: 0, who: "x" }, { ...schema } as never).errors.length).toBe(2);
    } finally {
      globalThis.Function = original;
    }
  });

  it("turns JSON pointers into rjsf property paths", () => {
    expect(propertyPath("#")).toBe("");
    expect(propertyPath("#/a/0/b~1c/d%20e")).toBe(".a.0.b/c.d e");
  });
});
