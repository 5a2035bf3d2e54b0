import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EdgeEditor, type EdgeEditorProps } from "./EdgeEditor";

afterEach(cleanup);

function renderEditor(props: Partial<EdgeEditorProps> = {}) {
  const handlers = { onConnect: vi.fn(), onRemove: vi.fn() };
  const all: EdgeEditorProps = {
    nodeId: "check",
    branches: [],
    targets: [{ id: "approve", label: "Approval" }, { id: "notify" }],
    outgoing: [],
    editable: true,
    ...handlers,
    ...props,
  };
  const view = render(<EdgeEditor {...all} />);
  return { ...handlers, rerender: (next: Partial<EdgeEditorProps>) => view.rerender(<EdgeEditor {...all} {...next} />) };
}

const connectButton = () => screen.getByRole("button", { name: "Connect" });

describe("EdgeEditor", () => {
  it("connects to the chosen node with labelled fields and no branch field for a single output", () => {
    const h = renderEditor();
    expect(screen.queryByLabelText("Branch")).toBeNull();
    const target = screen.getByLabelText("Connect to…") as HTMLSelectElement;
    expect([...target.options].map((o) => o.textContent)).toEqual(["Choose a node", "approve · Approval", "notify"]);
    expect((connectButton() as HTMLButtonElement).disabled).toBe(true); // nothing chosen yet
    fireEvent.change(target, { target: { value: "notify" } });
    fireEvent.click(connectButton());
    expect(h.onConnect).toHaveBeenCalledWith("notify", null);
    expect(screen.getByRole("status").textContent).toBe("Connected check to notify.");
    expect(target.value).toBe(""); // ready for the next one
  });

  it("asks for the branch when the node type has branches", () => {
    const h = renderEditor({ branches: ["true", "false"] });
    const branch = screen.getByLabelText("Branch") as HTMLSelectElement;
    expect([...branch.options].map((o) => o.value)).toEqual(["true", "false"]);
    fireEvent.change(screen.getByLabelText("Connect to…"), { target: { value: "approve" } });
    fireEvent.change(branch, { target: { value: "false" } });
    // Submitting the form (Enter on the Connect button) connects.
    fireEvent.submit(screen.getByRole("form", { name: "Connect check to another node" }));
    expect(h.onConnect).toHaveBeenCalledWith("approve", "false");
  });

  it("lists the outgoing connections and removes one, keeping the focus in the list", () => {
    const h = renderEditor({
      branches: ["true", "false"],
      outgoing: [
        { id: "check:true->approve", target: "approve", branch: "true" },
        { id: "check:false->notify", target: "notify", branch: "false" },
      ],
    });
    const list = screen.getByRole("list", { name: "Outgoing connections of check" });
    expect(within(list).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
      "→ approve (branch true)Remove",
      "→ notify (branch false)Remove",
    ]);
    fireEvent.click(within(list).getByRole("button", { name: "Remove the connection to approve (branch true)" }));
    expect(h.onRemove).toHaveBeenCalledWith("check:true->approve");
    h.rerender({ branches: ["true", "false"], outgoing: [{ id: "check:false->notify", target: "notify", branch: "false" }] });
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Remove the connection to notify (branch false)" }));
    fireEvent.click(document.activeElement!);
    h.rerender({ branches: ["true", "false"], outgoing: [] });
    expect(document.activeElement).toBe(screen.getByLabelText("Connect to…"));
    expect(screen.getByText("No outgoing connections.")).toBeTruthy();
  });

  it("refuses a connection that already exists", () => {
    const h = renderEditor({ branches: ["true", "false"], outgoing: [{ id: "e1", target: "approve", branch: "true" }] });
    fireEvent.change(screen.getByLabelText("Connect to…"), { target: { value: "approve" } });
    expect((connectButton() as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText("check is already connected to approve (branch true).")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Branch"), { target: { value: "false" } });
    expect((connectButton() as HTMLButtonElement).disabled).toBe(false);
    fireEvent.click(connectButton());
    expect(h.onConnect).toHaveBeenCalledWith("approve", "false");
  });

  it("follows a change of branches (a switch's cases) and offers no controls when read-only", () => {
    const h = renderEditor({ branches: ["a", "default"] });
    h.rerender({ branches: ["b", "default"] });
    expect((screen.getByLabelText("Branch") as HTMLSelectElement).value).toBe("b");
    cleanup();
    renderEditor({ editable: false, outgoing: [{ id: "e1", target: "notify", branch: null }] });
    expect(screen.getByRole("list", { name: "Outgoing connections of check" }).textContent).toContain("notify");
    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.queryByLabelText("Connect to…")).toBeNull();
  });
});
