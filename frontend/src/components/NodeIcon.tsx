// A node type's icon and category colour, both from the registry (NodeType.icon, NodeType.color): a new node type
// needs no change here. The icon is one SVG path's data on a 24 x 24 grid, drawn as a stroke in the colour, on a tile
// tinted with it. Decorative: the type's title is always written next to it.
import type { CSSProperties } from "react";
import { cn } from "../lib/utils";

export interface NodeIconProps {
  icon: string | undefined;
  color: string | undefined;
  /** The tile's size: "sm" 24 px (palette), "md" 28 px (canvas, inspector). */
  size?: "sm" | "md";
  className?: string;
}

export function NodeIcon({ icon, color, size = "md", className }: NodeIconProps) {
  return (
    <span
      aria-hidden="true"
      className={cn("node-icon", size === "sm" ? "size-6" : "size-7", className)}
      style={{ "--node-color": color } as CSSProperties}
    >
      {icon ? (
        <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false" className={size === "sm" ? "size-3.5" : "size-4"}>
          <path d={icon} />
        </svg>
      ) : null}
    </span>
  );
}

/** The `--node-color` custom property a node's parts read (left stripe, icon, mini map). */
export function nodeColorStyle(color: string | undefined): CSSProperties | undefined {
  return color ? ({ "--node-color": color } as CSSProperties) : undefined;
}
