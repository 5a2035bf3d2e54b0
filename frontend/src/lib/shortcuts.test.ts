import { afterEach, describe, expect, it } from "vitest";
import { commandFor, isTextTarget } from "./shortcuts";

const press = (key: string, mods: Partial<{ ctrl: boolean; meta: boolean; shift: boolean; alt: boolean }> = {}) => ({
  key,
  ctrlKey: !!mods.ctrl,
  metaKey: !!mods.meta,
  shiftKey: !!mods.shift,
  altKey: !!mods.alt,
});

afterEach(() => {
  document.body.innerHTML = "";
});

describe("builder shortcuts", () => {
  it("maps Ctrl and Cmd combinations to commands", () => {
    expect(commandFor(press("z", { ctrl: true }))).toBe("undo");
    expect(commandFor(press("z", { meta: true }))).toBe("undo");
    expect(commandFor(press("Z", { ctrl: true, shift: true }))).toBe("redo");
    expect(commandFor(press("z", { meta: true, shift: true }))).toBe("redo");
    expect(commandFor(press("y", { ctrl: true }))).toBe("redo");
    expect(commandFor(press("c", { ctrl: true }))).toBe("copy");
    expect(commandFor(press("v", { meta: true }))).toBe("paste");
    expect(commandFor(press("s", { ctrl: true }))).toBe("save");
    expect(commandFor(press("s", { ctrl: true, shift: true }))).toBeNull();
    expect(commandFor(press("z"))).toBeNull();
    expect(commandFor(press("z", { ctrl: true, alt: true }))).toBeNull();
    expect(commandFor(press("a", { ctrl: true }))).toBeNull();
  });

  it("leaves keys in text fields alone", () => {
    document.body.innerHTML = `<input id="i"><textarea id="t"></textarea><div contenteditable="true"><span id="e">x</span></div><button id="b">b</button>`;
    expect(isTextTarget(document.getElementById("i"))).toBe(true);
    expect(isTextTarget(document.getElementById("t"))).toBe(true);
    expect(isTextTarget(document.getElementById("e"))).toBe(true);
    expect(isTextTarget(document.getElementById("b"))).toBe(false);
    expect(isTextTarget(document.body)).toBe(false);
    expect(isTextTarget(null)).toBe(false);
  });
});
