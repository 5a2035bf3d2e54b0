// The schema form (rjsf and its validator: the largest part of the builder's code) loads when a form is first shown, not with
// the page: a workflow opens and draws without waiting for it. `preloadSchemaForm` fetches it ahead, once the page
// is idle, so the first inspector still opens at once.
import { lazy, Suspense } from "react";
import type { SchemaFormProps } from "./SchemaForm";

const load = () => import("./SchemaForm");
const Loaded = lazy(() => load().then((m) => ({ default: m.SchemaForm })));

export function preloadSchemaForm(): void {
  void load();
}

export function SchemaForm(props: SchemaFormProps) {
  return (
    <Suspense fallback={<p className="text-sm text-muted-foreground">Loading the form…</p>}>
      <Loaded {...props} />
    </Suspense>
  );
}
