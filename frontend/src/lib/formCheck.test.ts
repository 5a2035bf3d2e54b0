// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { checkForm } from "./formCheck";

function form(html: string): HTMLFormElement {
  document.body.innerHTML = `<form novalidate>${html}</form>`;
  return document.querySelector("form")!;
}

describe("checkForm", () => {
  it("says what is missing or malformed, by control, and focuses the first", () => {
    const f = form(`
      <input id="name" required data-missing="Enter a name for the workflow.">
      <input id="email" type="email" value="not-an-email">
      <input id="pw" type="password" minlength="8" value="short">
      <input id="ok" value="fine">`);
    expect(checkForm(f)).toEqual({
      name: ["Enter a name for the workflow."],
      email: ["Enter an email address such as ada@example.org."],
      pw: ["Use at least 8 characters (5 now)."],
    });
    expect(document.activeElement?.id).toBe("name");
  });

  it("finds nothing in a valid form, and skips disabled controls", () => {
    const f = form(`<input id="a" required value="x"><input id="b" required disabled>`);
    expect(checkForm(f)).toEqual({});
  });
});
