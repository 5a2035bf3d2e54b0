// JSON or log lines in a box that scrolls, and that the keyboard can reach: a scrolling region must take the focus,
// or keyboard users cannot scroll it (WCAG 2.1.1; axe's scrollable-region-focusable). Named, so a screen reader says
// which box it is in.
import type { ComponentProps } from "react";

export function CodeBlock({ label, ...props }: ComponentProps<"pre"> & { label: string }) {
  return (
    // biome-ignore lint/a11y/useSemanticElements: a <section> cannot hold preformatted text; the region role names the box
    // biome-ignore lint/a11y/noNoninteractiveTabindex: the box scrolls; the focus is how a keyboard scrolls it
    <pre tabIndex={0} role="region" aria-label={label} {...props} />
  );
}
