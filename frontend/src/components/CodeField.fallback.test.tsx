import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, expect, it, vi } from "vitest";
import { SchemaForm } from "./SchemaForm";

// The editor's chunk never arrives here: what the user has until it does.
vi.mock("./CodeEditor", () => new Promise(() => {}));

afterEach(cleanup);

it("edits the source in a labelled textarea while the editor loads", async () => {
  const onEdit = vi.fn();
  const schema = {
    type: "object",
    properties: {
      language: { type: "string", enum: ["javascript", "python"], default: "python" },
      source: { type: "string", title: "Source", "x-ui-widget": "code", "x-ui-language-field": "language" },
    },
  };
  render(<SchemaForm schema={schema} formData={{ source: "def main(input, steps, run):\n    pass" }} onEdit={onEdit} />);
  const box = await screen.findByRole("textbox", { name: "Source (Python)" });
  expect(box.tagName).toBe("TEXTAREA");
  expect((box as HTMLTextAreaElement).value).toBe("def main(input, steps, run):\n    pass");
  fireEvent.change(box, { target: { value: "def main(input, steps, run):\n    return 1" } });
  expect(onEdit).toHaveBeenLastCalledWith({ source: "def main(input, steps, run):\n    return 1" });
});
