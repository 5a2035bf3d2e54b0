// Markdown (the safe subset of lib/markdown.ts) as React elements: nothing is ever set as HTML.
import type { ReactNode } from "react";
import { parseMarkdown, type Inline } from "../lib/markdown";
import { cn } from "../lib/utils";

// Keys are positions: the runs of a parsed text are rebuilt whole, hold no state, and may repeat.
function renderInline(nodes: Inline[]): ReactNode[] {
  return nodes.map(renderNode);
}

function renderNode(n: Inline, key: number): ReactNode {
  switch (n.kind) {
    case "text":
      return n.text;
    case "code":
      return (
        <code key={key} className="rounded bg-muted px-1 py-px font-mono text-[0.92em] text-foreground">
          {n.text}
        </code>
      );
    case "strong":
      return (
        <strong key={key} className="font-semibold text-foreground">
          {renderInline(n.children)}
        </strong>
      );
    case "em":
      return <em key={key}>{renderInline(n.children)}</em>;
    case "link":
      return (
        <a key={key} href={n.href} target="_blank" rel="noopener noreferrer">
          {renderInline(n.children)}
        </a>
      );
  }
}

/** `source` rendered as paragraphs of inline Markdown. */
export function Markdown({ source, className }: { source: string; className?: string }) {
  return (
    <div className={cn("grid gap-1.5", className)}>
      {parseMarkdown(source).map((block, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: paragraphs of a parsed text, rebuilt whole and without state
        <p key={i}>{renderInline(block.children)}</p>
      ))}
    </div>
  );
}
