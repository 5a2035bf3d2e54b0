// The builder's one-line status under the toolbar: what the last save, publish, copy or start did.
export interface Notice {
  kind: "ok" | "error";
  text: string;
}

export type Notify = (notice: Notice) => void;

export function NoticeLine({ notice }: { notice: Notice | null }) {
  if (!notice) return null;
  return (
    <p
      className={`px-3 py-1 text-sm ${notice.kind === "ok" ? "text-success" : "text-destructive"}`}
      role={notice.kind === "ok" ? "status" : "alert"}
    >
      {notice.text}
    </p>
  );
}
