import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import approve from "../../../studio_shared/examples/approve_large_orders.json";
import hello from "../../../studio_shared/examples/hello_transform.json";
import { StartRun } from "./StartRun";

afterEach(cleanup);

const schemaOf = (example: { definition: { nodes: { config: Record<string, unknown> }[] } }) =>
  example.definition.nodes[0]?.config.input_schema as Record<string, unknown>;

function open(inputSchema: Record<string, unknown> | undefined, latestVersion: number | null = 1) {
  const onStart = vi.fn(async (_input: unknown) => {});
  render(<StartRun latestVersion={latestVersion} inputSchema={inputSchema} onStart={onStart} />);
  fireEvent.click(screen.getByRole("button", { name: "Start run" }));
  return onStart;
}

describe("StartRun", () => {
  it("starts a demo workflow with its defaults, nothing typed", async () => {
    const onStart = open(schemaOf(hello));
    expect(await screen.findByRole("dialog", { name: "Start a run" })).toBeTruthy();
    expect(((await screen.findByLabelText(/Name/)) as HTMLInputElement).value).toBe("world");
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    await waitFor(() => expect(onStart).toHaveBeenCalledWith({ name: "world" }));
  });

  it("pre-fills every field of the approval demo", async () => {
    const onStart = open(schemaOf(approve));
    expect(((await screen.findByLabelText(/Amount/)) as HTMLInputElement).value).toBe("250");
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    await waitFor(() => expect(onStart).toHaveBeenCalledWith({ order_id: "A-1001", amount: 250 }));
  });

  it("offers a JSON editor when the trigger declares no input fields, and says on the field why it does not parse", async () => {
    const onStart = open({ type: "object" });
    const editor = (await screen.findByLabelText("Input (JSON)")) as HTMLTextAreaElement;
    expect(editor.value).toBe("{}");
    fireEvent.change(editor, { target: { value: '{"a": ' } });
    expect(editor.getAttribute("aria-invalid")).toBe("true");
    const describedBy = (editor.getAttribute("aria-describedby") ?? "").split(" ");
    expect(describedBy.map((id) => document.getElementById(id)?.textContent).join(" ")).toMatch(/Not valid JSON/);
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    expect(onStart).not.toHaveBeenCalled();

    fireEvent.change(editor, { target: { value: '{"a": [1, 2]}' } });
    expect(editor.getAttribute("aria-invalid")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    await waitFor(() => expect(onStart).toHaveBeenCalledWith({ a: [1, 2] }));
  });

  it("offers the JSON editor without any input schema too", async () => {
    const onStart = open(undefined);
    fireEvent.click(await screen.findByRole("button", { name: "Start" }));
    await waitFor(() => expect(onStart).toHaveBeenCalledWith({}));
  });

  it("cannot start before a version is published", () => {
    render(<StartRun latestVersion={null} inputSchema={undefined} onStart={vi.fn()} />);
    expect((screen.getByRole("button", { name: "Start run" }) as HTMLButtonElement).disabled).toBe(true);
  });
});
