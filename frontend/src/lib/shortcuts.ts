// The builder's keyboard shortcuts: which command a key press means, and when to leave a key alone (pure but for MOD).

export type BuilderCommand = "undo" | "redo" | "copy" | "paste" | "save";

export interface KeyPress {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

/** Ctrl/Cmd+Z undo; Ctrl/Cmd+Shift+Z or Ctrl+Y redo; Ctrl/Cmd+C copy; Ctrl/Cmd+V paste; Ctrl/Cmd+S save. */
export function commandFor(e: KeyPress): BuilderCommand | null {
  if (!(e.ctrlKey || e.metaKey) || e.altKey) return null;
  switch (e.key.toLowerCase()) {
    case "z":
      return e.shiftKey ? "redo" : "undo";
    case "y":
      return e.shiftKey ? null : "redo";
    case "c":
      return e.shiftKey ? null : "copy";
    case "v":
      return e.shiftKey ? null : "paste";
    case "s":
      return e.shiftKey ? null : "save";
    default:
      return null;
  }
}

/** True when a key press belongs to a text field (input, textarea, select, contenteditable), not to the canvas. */
export function isTextTarget(target: EventTarget | null): boolean {
  if (!target || typeof (target as Element).closest !== "function") return false;
  const el = target as HTMLElement;
  if (el.isContentEditable) return true;
  return !!el.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
}

const IS_MAC = typeof navigator !== "undefined" && /Mac|iP(hone|ad|od)/.test(navigator.platform);
/** The modifier as shortcut hints write it: "⌘" on Apple devices, else "Ctrl+". */
export const MOD = IS_MAC ? "⌘" : "Ctrl+";
