import { configure } from "@testing-library/react";

// jsdom lacks the layout APIs React Flow measures with.
class ResizeObserverStub {
  observe() {}
  unobserve() {}
  disconnect() {}
}
globalThis.ResizeObserver ??= ResizeObserverStub as unknown as typeof ResizeObserver;

// A loaded machine (CI, or the suite beside the Python tests) renders slower than a developer's: waitFor and
// findBy* wait up to 5 s for what normally appears in milliseconds. Nothing passes by waiting; it only stops
// failing when the machine is busy.
configure({ asyncUtilTimeout: 5_000 });

// jsdom's Range has no layout either; CodeMirror measures text with it (its editor renders in CodeField tests).
const emptyRects = () => Object.assign([], { item: () => null }) as unknown as DOMRectList;
if (typeof Range !== "undefined") {
  Range.prototype.getClientRects ??= emptyRects;
  Range.prototype.getBoundingClientRect ??= () => new DOMRect();
}
