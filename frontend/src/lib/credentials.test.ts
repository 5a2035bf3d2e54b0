import { describe, expect, it } from "vitest";
import { credentialErrorFields, credentialInput, parseHosts } from "./credentials";
import { fieldErrors } from "./fieldErrors";

describe("credentialInput", () => {
  it("keeps the chosen kind's fields only, secrets as typed, optional fields when given", () => {
    const typed = { token: " t ", username: "left over", api_key: "k", base_url: "", organization: " o " };
    expect(credentialInput(" n ", "bearer", typed, "").value).toEqual({ token: " t " });
    expect(credentialInput("n", "openai", typed, "").value).toEqual({ api_key: "k", organization: "o" });
    // A required field left empty is sent empty: the server says which one is missing.
    expect(credentialInput("n", "basic", {}, "").value).toEqual({ username: "", password: "" });
  });

  it("sends whole numbers as numbers, a choice left alone as its first option", () => {
    expect(credentialInput("m", "smtp", { host: "h", port: " 2525 ", from: "a@b.org" }, "").value).toEqual({
      host: "h",
      port: 2525,
      security: "starttls",
      from: "a@b.org",
    });
    // Not a whole number: sent as typed, for the server to say what is wrong.
    expect(credentialInput("m", "postgres", { host: "h", port: "54x", database: "d", user: "u" }, "").value).toEqual({
      host: "h",
      port: "54x",
      database: "d",
      user: "u",
      sslmode: "require",
    });
  });

  it("splits allowed hosts on commas and whitespace", () => {
    expect(parseHosts(" a.org,b.org\n*.c.org ")).toEqual(["a.org", "b.org", "*.c.org"]);
    expect(parseHosts(" , ")).toBeNull();
  });
});

describe("fieldErrors", () => {
  it("puts each error on the most specific field its path starts with", () => {
    const mapped = fieldErrors(
      [
        { path: ["value", "password"], message: "p", code: "INVALID" },
        { path: ["value"], message: "basic credentials need username, password", code: "INVALID" },
        { path: ["allowedHosts", "3"], message: "h", code: "INVALID" },
        { path: [], message: "g", code: "X" },
      ],
      credentialErrorFields("basic"),
    );
    expect(mapped.byField).toEqual({ "value.password": ["p"], value: ["basic credentials need username, password"], allowedHosts: ["h"] });
    expect(mapped.general).toEqual(["g"]);
  });

  it("strips the argument prefix of mutation paths", () => {
    const mapped = fieldErrors(
      [
        { path: ["input", "cron"], message: "c", code: "INVALID_CRON" },
        { path: ["input", "input", "amount"], message: "a", code: "INVALID_INPUT" },
        { path: ["workflowId"], message: "w", code: "CONFLICT" },
      ],
      ["cron", "input"],
      ["input"],
    );
    expect(mapped.byField).toEqual({ cron: ["c"], input: ["a"] });
    expect(mapped.general).toEqual(["w"]);
  });
});
