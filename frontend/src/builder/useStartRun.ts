// Starting a run of the latest published version from the builder, then following it on the run monitor.
import { useCallback } from "react";
import { useNavigate } from "react-router-dom";
import { useMutation } from "urql";
import { START_RUN } from "../api/operations";
import type { Notify } from "./notice";

export function useStartRun(workflowId: string, notify: Notify) {
  const navigate = useNavigate();
  const [, startRun] = useMutation(START_RUN);
  /** Starts a run with `input` and opens its monitor; says why when the server refused. */
  return useCallback(
    async (input: unknown) => {
      const res = await startRun({ workflowId, input: input ?? {} });
      const payload = res.data?.startRun;
      if (!payload?.run) {
        notify({ kind: "error", text: `Run not started: ${payload?.errors[0]?.message ?? res.error?.message}` });
        return;
      }
      navigate(`/runs/${payload.run.id}`);
    },
    [startRun, workflowId, notify, navigate],
  );
}
