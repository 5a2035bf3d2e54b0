import { describe, expect, it } from "vitest";
import { editedConfig, topLevelProperty } from "./formEdits";

describe("topLevelProperty", () => {
  const props = ["timeout", "timeout_s", "cases", "url"];
  it("finds the longest property the id starts with, nested fields included", () => {
    expect(topLevelProperty("cfg_timeout_s", "cfg", props)).toBe("timeout_s");
    expect(topLevelProperty("cfg_timeout", "cfg", props)).toBe("timeout");
    expect(topLevelProperty("cfg_cases_0", "cfg", props)).toBe("cases");
    expect(topLevelProperty("cfg_url", "cfg", props)).toBe("url");
  });
  it("is null for another form's ids and for unknown fields", () => {
    expect(topLevelProperty("task_url", "cfg", props)).toBeNull();
    expect(topLevelProperty("cfg_other", "cfg", props)).toBeNull();
    expect(topLevelProperty("cfg", "cfg", props)).toBeNull();
  });
});

describe("editedConfig", () => {
  it("keeps what was there and what was edited, drops what the form filled in", () => {
    const before = { url: "https://a", headers: { a: "1" } };
    const after = { method: "GET", url: "https://b", headers: { a: "1" }, timeout_s: 30, cases: [null] };
    expect(editedConfig(before, after, "url")).toEqual({ url: "https://b", headers: { a: "1" } });
  });
  it("keeps a default the user picked on purpose", () => {
    expect(editedConfig({ url: "x" }, { method: "GET", url: "x", timeout_s: 30 }, "method")).toEqual({ method: "GET", url: "x" });
  });
  it("lets a cleared field go", () => {
    expect(editedConfig({ url: "x", message: "m" }, { url: "x" }, "message")).toEqual({ url: "x" });
  });
});
