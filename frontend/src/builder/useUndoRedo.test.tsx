import { act, renderHook } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import hello from "../../../studio_shared/examples/hello_transform.json";
import type { Definition } from "../lib/definition";
import { useUndoRedo } from "./useUndoRedo";

const opened = hello.definition as Definition;
const at = (x: number, y = 0): Definition => ({
  ...opened,
  nodes: opened.nodes.map((n) => (n.id === "greet" ? { ...n, position: { x, y } } : n)),
});
const greeting = (text: string): Definition => ({
  ...opened,
  nodes: opened.nodes.map((n) => (n.id === "greet" ? { ...n, config: { value: { greeting: text } } } : n)),
});
const withNode: Definition = { ...opened, nodes: [...opened.nodes, { id: "more", type: "transform", config: {}, position: { x: 500, y: 0 } }] };

const noDefaults = () => ({});

function setup() {
  const restore = vi.fn();
  const hook = renderHook(
    ({ definition }: { definition: Definition }) =>
      useUndoRedo({ definition, fullKey: JSON.stringify(definition), defaultsOf: noDefaults, restore }),
    { initialProps: { definition: opened } },
  );
  // `restore` is a mock: the test shows the restored state itself, as the builder's restore does.
  const undo = () => act(() => void hook.result.current.undo());
  const redo = () => act(() => void hook.result.current.redo());
  const show = (definition: Definition) => hook.rerender({ definition });
  return { ...hook, restore, undo, redo, show };
}

describe("useUndoRedo", () => {
  it("undoes and redoes an edit, restoring each state on the canvas", () => {
    const { result, restore, undo, redo, show } = setup();
    expect(result.current).toMatchObject({ canUndo: false, canRedo: false });
    expect(result.current.undo()).toBe(false);
    show(withNode);
    expect(result.current.canUndo).toBe(true);
    undo();
    expect(restore).toHaveBeenLastCalledWith(opened);
    show(opened);
    expect(result.current).toMatchObject({ canUndo: false, canRedo: true });
    redo();
    expect(restore).toHaveBeenLastCalledWith(withNode);
    show(withNode);
    expect(result.current).toMatchObject({ canUndo: true, canRedo: false });
  });

  it("records a drag once it stops, as one step", () => {
    const { result, restore, undo, show } = setup();
    act(() => result.current.dragStarted());
    for (const x of [260, 300, 340]) show(at(x));
    expect(result.current.canUndo).toBe(false);
    act(() => result.current.dragStopped());
    expect(result.current.canUndo).toBe(true);
    undo();
    expect(restore).toHaveBeenLastCalledWith(opened);
    expect(result.current.canUndo).toBe(false);
  });

  it("coalesces arrow-key nudges of the same node into one step, and not with a drag after them", () => {
    const { result, restore, undo, show } = setup();
    for (const x of [251, 252, 253]) {
      act(() => result.current.trackNodeChanges([{ type: "position", id: "greet", position: { x, y: 0 } }]));
      show(at(x));
    }
    act(() => result.current.dragStarted());
    show(at(400));
    act(() => result.current.dragStopped());
    undo();
    expect(restore).toHaveBeenLastCalledWith(at(253));
    show(at(253));
    undo();
    expect(restore).toHaveBeenLastCalledWith(opened);
    expect(result.current.canUndo).toBe(false);
  });

  it("coalesces a burst of typing in one field into one step", () => {
    const { result, restore, undo, show } = setup();
    for (const text of ["H", "Hi", "Hi, {{ input.name }}"]) show(greeting(text));
    undo();
    expect(restore).toHaveBeenLastCalledWith(opened);
    expect(result.current.canUndo).toBe(false);
  });
});
