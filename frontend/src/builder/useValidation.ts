// Validation as the user edits: the server's validateDefinition, debounced while typing (the workflow as opened is
// checked at once), not on drag frames (positions are not part of the key). Problems go onto their nodes and fields.
import { useCallback, useEffect, useRef, useState } from "react";
import { useClient } from "urql";
import { VALIDATE } from "../api/operations";
import type { UserError } from "../api/types";
import { errorsOf, warningsOf, type Definition } from "../lib/definition";
import { mapUserErrors, type MappedErrors } from "../lib/errors";
import { withProblems } from "../lib/graphEdits";
import type { GraphState } from "./useGraphState";

/** How long an edit must rest before it is validated (ms). */
export const VALIDATE_DEBOUNCE_MS = 350;

const NONE: MappedErrors = { byNode: {}, byEdge: {}, general: [] };

export function useValidation({ definition, validationKey, setNodes }: Pick<GraphState, "definition" | "validationKey" | "setNodes">) {
  const client = useClient();
  const [mapped, setMapped] = useState<MappedErrors>(NONE);
  const [validated, setValidated] = useState(false);

  /** Shows problems (of validation, or of a save or publish) on the nodes and the workflow; returns them mapped. */
  const showProblems = useCallback(
    (errors: readonly UserError[], def: Definition) => {
      const m = mapUserErrors(errors, def);
      setMapped(m);
      setNodes((ns) => withProblems(ns, m.byNode));
      return m;
    },
    [setNodes],
  );

  const definitionRef = useRef(definition);
  definitionRef.current = definition;
  const validatedOnce = useRef(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: validationKey is the definition without positions: moving a node validates nothing
  useEffect(() => {
    const def = definitionRef.current;
    const timer = setTimeout(
      async () => {
        validatedOnce.current = true;
        const result = await client.query(VALIDATE, { definition: def }, { requestPolicy: "network-only" }).toPromise();
        if (result.data) {
          showProblems(result.data.validateDefinition, def);
          setValidated(true);
        }
      },
      validatedOnce.current ? VALIDATE_DEBOUNCE_MS : 0,
    );
    return () => clearTimeout(timer);
  }, [validationKey, client, showProblems]);

  const all = [...Object.values(mapped.byNode).flat(), ...mapped.general];
  // Edge problems are also on their source node (mapUserErrors), so counting nodes and general counts each once.
  const problemCount = errorsOf(all).length;
  const warningCount = warningsOf(all).length;
  return { mapped, validated, problemCount, warningCount, showProblems };
}

export type ShowProblems = ReturnType<typeof useValidation>["showProblems"];
