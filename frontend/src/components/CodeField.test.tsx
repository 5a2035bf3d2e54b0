import { CompletionContext } from "@codemirror/autocomplete";
import { language } from "@codemirror/language";
import { EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TemplateSuggestion } from "../lib/templatePaths";
import { pathCompletionSource } from "./CodeEditor";
import { SchemaForm, uiSchemaFor } from "./SchemaForm";
import { TemplateSuggestionsContext } from "./TemplateInput";

afterEach(cleanup);

// The code node's config as the registry describes it (studio_shared/schemas/nodes/code.json).
const CODE_SCHEMA = {
  type: "object",
  properties: {
    language: { type: "string", title: "Language", enum: ["javascript", "python"], default: "javascript" },
    source: {
      type: "string",
      title: "Source",
      "x-ui-widget": "code",
      "x-ui-language-field": "language",
    },
    note: { type: "string", title: "Note", "x-ui-widget": "template" },
  },
  "x-ui-order": ["language", "source", "note"],
};

const PATHS: TemplateSuggestion[] = [
  { path: "input.order", detail: "object" },
  { path: "steps['my-node'].output.status", detail: "integer" },
  { path: "run.id", detail: "string" },
];

describe("the code widget", () => {
  it("is chosen for strings marked x-ui-widget code, with the schema's language field", () => {
    const ui = uiSchemaFor(CODE_SCHEMA);
    expect(ui.source).toEqual({ "ui:widget": "code", "ui:options": { languageField: "language" } });
    expect(ui.note["ui:widget"]).toBe("template");
    expect(ui.language).toBeUndefined();
    // Only for strings: a code hint on another type leaves the usual widget.
    expect(uiSchemaFor({ properties: { x: { type: "object", "x-ui-widget": "code" } } }).x).toEqual({ "ui:field": "json" });
  });

  it("edits the source in CodeMirror, named by the field's title and language, with the keyboard hint", async () => {
    const onEdit = vi.fn();
    render(<SchemaForm schema={CODE_SCHEMA} formData={{ source: "function main(input) {}" }} onEdit={onEdit} />);
    await waitFor(() => expect(document.querySelector(".cm-content")).not.toBeNull());
    const content = screen.getByRole("textbox", { name: "Source (JavaScript)" });
    expect(content.getAttribute("contenteditable")).toBe("true");
    expect(content.textContent).toBe("function main(input) {}");
    expect(document.getElementById(content.getAttribute("aria-describedby")!.split(" ").at(-1)!)?.textContent).toMatch(
      /Esc then Tab leaves the editor/,
    );
    expect(document.querySelector("[data-code-language]")?.getAttribute("data-code-language")).toBe("javascript");
    // What the user types reaches the form as the field's edit.
    const view = EditorView.findFromDOM(document.querySelector(".cm-editor") as HTMLElement)!;
    act(() => view.dispatch({ changes: { from: view.state.doc.length, insert: "\n" } }));
    expect(onEdit).toHaveBeenLastCalledWith({ source: "function main(input) {}\n" });
  });

  it("follows the language field: Python once the user picks it", async () => {
    render(<SchemaForm schema={CODE_SCHEMA} formData={{ language: "javascript", source: "" }} onEdit={() => {}} />);
    await waitFor(() => expect(document.querySelector(".cm-content")).not.toBeNull());
    const view0 = EditorView.findFromDOM(document.querySelector(".cm-editor") as HTMLElement)!;
    await waitFor(() => expect(view0.state.facet(language)?.name).toBe("javascript"));
    fireEvent.change(screen.getByLabelText(/^Language/), { target: { value: "1" } }); // rjsf's select values are enum indexes
    await screen.findByLabelText("Source (Python)");
    expect(document.querySelector("[data-code-language]")?.getAttribute("data-code-language")).toBe("python");
    // The grammar that highlights the text is Python's once its chunk has loaded.
    const view = () => EditorView.findFromDOM(document.querySelector(".cm-editor") as HTMLElement);
    await waitFor(() => expect(view()?.state.facet(language)?.name).toBe("python"));
  });

  it("is read-only in a read-only form", async () => {
    render(
      <TemplateSuggestionsContext.Provider value={PATHS}>
        <SchemaForm schema={CODE_SCHEMA} formData={{ source: "x" }} readonly />
      </TemplateSuggestionsContext.Provider>,
    );
    await waitFor(() => expect(document.querySelector(".cm-content")).not.toBeNull());
    const content = screen.getByRole("textbox", { name: "Source (JavaScript)" });
    expect(content.getAttribute("contenteditable")).toBe("false");
    expect(content.getAttribute("aria-readonly")).toBe("true");
  });
});

describe("the editor's completion source", () => {
  const complete = (doc: string, language: "javascript" | "python", explicit = false) =>
    pathCompletionSource(PATHS, language)(new CompletionContext(EditorState.create({ doc }), doc.length, explicit));

  it("offers the upstream paths in JavaScript's syntax", () => {
    const result = complete("return steps", "javascript");
    expect(result && "options" in result ? result.options.map((o) => o.label) : null).toEqual(["steps['my-node'].output.status"]);
    expect(result && "from" in result ? result.from : null).toBe("return ".length);
  });

  it("offers them as dict subscripts in Python", () => {
    const result = complete("x = inp", "python");
    expect(result && "options" in result ? result.options.map((o) => [o.label, o.detail]) : null).toEqual([
      ['input["order"]', "object"],
    ]);
  });

  it("offers nothing outside a path unless asked", () => {
    expect(complete("x = ", "javascript")).toBeNull();
    const asked = complete("x = ", "javascript", true);
    expect(asked && "options" in asked ? asked.options.length : 0).toBe(PATHS.length);
  });
});
