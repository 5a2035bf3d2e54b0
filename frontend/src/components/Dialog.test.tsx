import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfirmDialog } from "./Dialog";

afterEach(cleanup);

function Harness({ onConfirm }: { onConfirm: () => void }) {
  const [open, setOpen] = useState(false);
  return (
    <main>
      <h1>Page</h1>
      <button type="button" onClick={() => setOpen(true)}>
        Delete thing
      </button>
      {open ? (
        <ConfirmDialog
          title="Delete thing?"
          message="It goes for good."
          confirmLabel="Delete"
          onConfirm={onConfirm}
          onCancel={() => setOpen(false)}
        />
      ) : null}
    </main>
  );
}

describe("ConfirmDialog", () => {
  it("moves focus to Cancel, closes on Escape and gives focus back to its opener", () => {
    const onConfirm = vi.fn();
    render(<Harness onConfirm={onConfirm} />);
    const opener = screen.getByRole("button", { name: "Delete thing" });
    opener.focus();
    fireEvent.click(opener);
    const dialog = screen.getByRole("alertdialog", { name: "Delete thing?" });
    expect(dialog.tagName).toBe("DIALOG");
    expect(dialog.getAttribute("aria-describedby")).toBeTruthy();
    expect(document.activeElement?.textContent).toBe("Cancel");
    fireEvent(dialog, new Event("cancel", { cancelable: true })); // what Escape fires on a modal <dialog>
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(document.activeElement).toBe(opener);
    expect(onConfirm).not.toHaveBeenCalled();
  });

  it("confirms only through its confirm button", () => {
    const onConfirm = vi.fn();
    render(<Harness onConfirm={onConfirm} />);
    fireEvent.click(screen.getByRole("button", { name: "Delete thing" }));
    fireEvent.click(screen.getByRole("button", { name: "Delete" }));
    expect(onConfirm).toHaveBeenCalledOnce();
  });
});
