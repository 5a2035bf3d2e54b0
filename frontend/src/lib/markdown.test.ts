import { describe, expect, it } from "vitest";
import { parseInline, parseMarkdown, plainText, safeHref } from "./markdown";

describe("parseInline", () => {
  it("reads inline code, bold, emphasis and links", () => {
    expect(parseInline("Runs `until` is **true**, *then* [docs](https://example.org/x).")).toEqual([
      { kind: "text", text: "Runs " },
      { kind: "code", text: "until" },
      { kind: "text", text: " is " },
      { kind: "strong", children: [{ kind: "text", text: "true" }] },
      { kind: "text", text: ", " },
      { kind: "em", children: [{ kind: "text", text: "then" }] },
      { kind: "text", text: " " },
      { kind: "link", href: "https://example.org/x", children: [{ kind: "text", text: "docs" }] },
      { kind: "text", text: "." },
    ]);
  });

  it("keeps HTML as text: nothing is markup but the subset", () => {
    expect(parseInline('<img src=x onerror="alert(1)"> <b>x</b>')).toEqual([
      { kind: "text", text: '<img src=x onerror="alert(1)"> <b>x</b>' },
    ]);
  });

  it("links only to http(s) and mailto; other links stay text", () => {
    expect(parseInline("[x](javascript:alert(1))")).toEqual([{ kind: "text", text: "[x](javascript:alert(1))" }]);
    expect(parseInline("[x](data:text/html,hi)")[0]?.kind).toBe("text");
    expect(parseInline("[x](/relative)")[0]?.kind).toBe("text");
    expect(parseInline("[mail](mailto:a@b.org)")[0]).toEqual({ kind: "link", href: "mailto:a@b.org", children: [{ kind: "text", text: "mail" }] });
    expect(safeHref(" JAVASCRIPT:alert(1)")).toBeNull();
  });

  it("leaves templates, snake_case names and lone markers alone", () => {
    expect(parseInline("config {{ input.amount > 100 }} and max_iterations * 2")).toEqual([
      { kind: "text", text: "config {{ input.amount > 100 }} and max_iterations * 2" },
    ]);
    expect(parseInline("an unclosed `tick")).toEqual([{ kind: "text", text: "an unclosed `tick" }]);
  });

  it("keeps a backtick inside a double-backtick span, and escapes", () => {
    expect(parseInline("`` a ` b ``")).toEqual([{ kind: "code", text: "a ` b" }]);
    expect(parseInline("\\*not em\\*")).toEqual([{ kind: "text", text: "*not em*" }]);
  });
});

describe("parseMarkdown", () => {
  it("splits paragraphs on blank lines and joins soft line breaks", () => {
    expect(parseMarkdown("one\ntwo\n\nthree").map((b) => b.children)).toEqual([
      [{ kind: "text", text: "one two" }],
      [{ kind: "text", text: "three" }],
    ]);
    expect(plainText("**a** `b`\n\n[c](https://x.org)")).toBe("a b\n\nc");
  });
});
