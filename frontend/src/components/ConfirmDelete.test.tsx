import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfirmDelete, RowActions } from "./ConfirmDelete";

afterEach(cleanup);

/** A row that goes once its deletion is confirmed, as on the admin screens. */
function Harness({ onConfirm, later }: { onConfirm: () => Promise<string | null>; later?: boolean }) {
  const [gone, setGone] = useState(false);
  return (
    <main>
      <h1>Page</h1>
      {gone ? null : (
        <RowActions problem={null}>
          <ConfirmDelete
            name="Delete thing one"
            title="Delete thing one?"
            message="It goes for good."
            confirmLabel="Delete thing"
            onConfirm={async () => {
              const problem = await onConfirm();
              // The admin screens reload the list: the row goes after the dialog closed.
              if (!problem) setTimeout(() => setGone(true), later ? 50 : 0);
              return problem;
            }}
          />
        </RowActions>
      )}
    </main>
  );
}

const opener = () => screen.getByRole("button", { name: "Delete thing one" });

describe("ConfirmDelete", () => {
  it("opens an alertdialog with the focus on Cancel, and Escape closes it, gives the focus back and deletes nothing", async () => {
    const onConfirm = vi.fn(async () => null);
    render(<Harness onConfirm={onConfirm} />);
    opener().focus();
    fireEvent.click(opener());
    const dialog = screen.getByRole("alertdialog", { name: "Delete thing one?" });
    expect(dialog.getAttribute("aria-modal")).toBe("true");
    expect(screen.getByText("It goes for good.").closest("[id]")?.id).toBe(dialog.getAttribute("aria-describedby"));
    await waitFor(() => expect(document.activeElement?.textContent).toBe("Cancel"));
    fireEvent.keyDown(document.activeElement!, { key: "Escape" });
    expect(screen.queryByRole("alertdialog")).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(opener()));
    expect(onConfirm).not.toHaveBeenCalled();
  });

  it("Cancel closes without deleting", () => {
    const onConfirm = vi.fn(async () => null);
    render(<Harness onConfirm={onConfirm} />);
    fireEvent.click(opener());
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(onConfirm).not.toHaveBeenCalled();
  });

  it("confirms only through its confirm button; once the row is gone the focus goes to the page's heading", async () => {
    const onConfirm = vi.fn(async () => null);
    render(<Harness onConfirm={onConfirm} />);
    opener().focus();
    fireEvent.click(opener());
    expect(onConfirm).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "Delete thing" }));
    expect(onConfirm).toHaveBeenCalledOnce();
    await waitFor(() => expect(screen.queryByRole("alertdialog")).toBeNull());
    expect(screen.queryByRole("button", { name: "Delete thing one" })).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole("heading", { name: "Page" })));
  });

  it("gives the focus to the heading when the row goes after the focus came back to its button", async () => {
    render(<Harness onConfirm={async () => null} later />);
    opener().focus();
    fireEvent.click(opener());
    fireEvent.click(screen.getByRole("button", { name: "Delete thing" }));
    await waitFor(() => expect(document.activeElement).toBe(opener())); // the dialog closed
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole("heading", { name: "Page" })));
  });

  it("keeps the dialog open with the server's reason when it refuses, and clears it when opened again", async () => {
    const onConfirm = vi.fn(async () => "still in use by 2 workflows");
    render(<Harness onConfirm={onConfirm} />);
    fireEvent.click(opener());
    fireEvent.click(screen.getByRole("button", { name: "Delete thing" }));
    const problem = await screen.findByRole("alert");
    expect(problem.textContent).toBe("still in use by 2 workflows");
    expect(screen.getByRole("alertdialog")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    fireEvent.click(opener());
    expect(screen.queryByRole("alert")).toBeNull();
  });
});

describe("RowActions", () => {
  it("shows the row's problem as an alert under its buttons", () => {
    render(
      <RowActions problem="Could not pause." problemId="p1">
        <button type="button">Pause</button>
      </RowActions>,
    );
    expect(screen.getByRole("alert").textContent).toBe("Could not pause.");
    expect(screen.getByRole("alert").id).toBe("p1");
  });
});
