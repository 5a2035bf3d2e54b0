// Changing your own password: what is wrong is said under the field, a success swaps the session's token.
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Provider } from "urql";
import { afterEach, describe, expect, it } from "vitest";
import { SessionProvider } from "../auth";
import { mockClient } from "../test/mockGraphQL";
import { ChangePasswordDialog, SetNewPasswordPage } from "./ChangePassword";

afterEach(() => {
  cleanup();
  localStorage.clear();
});

function setup(answer: (v: { currentPassword: string; newPassword: string }) => unknown, page = false) {
  localStorage.setItem("studio.token", "old-token");
  const api = mockClient({ ChangePassword: (v) => ({ changePassword: answer(v as never) }) });
  render(
    <SessionProvider>
      <Provider value={api.client}>{page ? <SetNewPasswordPage email="ada@x.test" /> : <ChangePasswordDialog onClose={() => {}} />}</Provider>
    </SessionProvider>,
  );
  return api;
}

const fill = (label: string | RegExp, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });

describe("change your password", () => {
  it("says what is missing and that the two new passwords differ, sending nothing", async () => {
    const api = setup(() => ({ token: "new", errors: [] }));
    const dialog = screen.getByRole("dialog", { name: "Change your password" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Change password" }));
    expect(within(dialog).getByText("Enter your current password.")).toBeTruthy();
    expect(within(dialog).getByText("Choose a new password.")).toBeTruthy();
    fill("Current password", "the old one");
    fill("New password", "a brand new one");
    fill("New password, again", "a brand new 0ne");
    fireEvent.click(within(dialog).getByRole("button", { name: "Change password" }));
    expect(await within(dialog).findByText("The two new passwords differ.")).toBeTruthy();
    expect(api.named("ChangePassword")).toHaveLength(0);
  });

  it("shows the server's answer under the field it is about", async () => {
    setup(() => ({ token: null, errors: [{ path: ["currentPassword"], message: "this is not your current password", code: "INVALID_CREDENTIALS" }] }));
    fill("Current password", "wrong");
    fill("New password", "a brand new one");
    fill("New password, again", "a brand new one");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText("this is not your current password")).toBeTruthy();
    expect(screen.getByLabelText("Current password").getAttribute("aria-invalid")).toBe("true");
    expect(localStorage.getItem("studio.token")).toBe("old-token");
  });

  it("keeps this session with the new token and says the others were signed out", async () => {
    const api = setup(() => ({ token: "new-token", errors: [] }));
    fill("Current password", "the old one");
    fill("New password", "a brand new one");
    fill("New password, again", "a brand new one");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText(/Your other sessions were signed out; this one goes on/)).toBeTruthy();
    expect(api.named("ChangePassword")[0]!.variables).toEqual({ currentPassword: "the old one", newPassword: "a brand new one" });
    await waitFor(() => expect(localStorage.getItem("studio.token")).toBe("new-token"));
  });

  it("asks for the temporary password on the page a reset leads to", () => {
    setup(() => ({ token: "t", errors: [] }), true);
    expect(screen.getByRole("heading", { name: "Set a new password" })).toBeTruthy();
    expect(screen.getByLabelText("Temporary password")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Set new password" })).toBeTruthy();
  });
});
