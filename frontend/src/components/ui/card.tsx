import { Slot } from "@radix-ui/react-slot";
import type { ComponentProps } from "react";
import { cn } from "../../lib/utils";

type WithAsChild<T extends keyof React.JSX.IntrinsicElements> = ComponentProps<T> & { asChild?: boolean };

/** A card; `asChild` puts its look on the child (a <form>, a <section>). */
export function Card({ className, asChild, ...props }: WithAsChild<"div">) {
  const Comp = asChild ? Slot : "div";
  return (
    <Comp
      data-slot="card"
      className={cn("flex flex-col gap-3 rounded-xl border bg-card p-4 text-card-foreground shadow-sm", className)}
      {...props}
    />
  );
}

/** The card's title; `asChild` keeps the page's heading level (<h2>, <h3>). */
export function CardTitle({ className, asChild, ...props }: WithAsChild<"div">) {
  const Comp = asChild ? Slot : "div";
  return <Comp data-slot="card-title" className={cn("text-base leading-none font-semibold", className)} {...props} />;
}
