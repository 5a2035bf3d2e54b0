import type { ComponentProps } from "react";
import { cn } from "../../lib/utils";
import { fieldClasses } from "./input";

/** A styled native <select>: the platform's own picker and keyboard behaviour (arrow keys pick). */
export function NativeSelect({ className, ...props }: ComponentProps<"select">) {
  return <select data-slot="native-select" className={cn(fieldClasses, "h-8 w-auto py-1 pr-7", className)} {...props} />;
}
