// rjsf's validator on @cfworker/json-schema, which interprets JSON Schema (2020-12) instead of generating code: the
// studio's Content-Security-Policy has no 'unsafe-eval' in script-src, and Ajv (rjsf's default validator) compiles
// every schema with `new Function`, which that policy refuses.
import { Validator, type OutputUnit, type Schema } from "@cfworker/json-schema";
import {
  createErrorHandler,
  getDefaultFormState,
  ROOT_SCHEMA_PREFIX,
  toErrorSchema,
  unwrapErrorHandler,
  validationDataMerge,
  withIdRefPrefix,
  type CustomValidator,
  type ErrorSchema,
  type ErrorTransformer,
  type RJSFSchema,
  type RJSFValidationError,
  type UiSchema,
  type ValidationData,
  type ValidatorType,
} from "@rjsf/utils";

type Data = unknown;

/** Keywords that only say "something below failed": the failures below them are reported instead. */
const WRAPPERS = new Set([
  "properties",
  "patternProperties",
  "additionalProperties",
  "unevaluatedProperties",
  "items",
  "prefixItems",
  "additionalItems",
  "unevaluatedItems",
  "contains",
  "propertyNames",
  "dependentSchemas",
  "$ref",
  "$recursiveRef",
  "$dynamicRef",
  "allOf",
  "if",
  "then",
  "else",
]);
/** Inside an alternative (anyOf, oneOf, not) a failure explains why that alternative did not match; the
 * alternative's own failure ("does not match any …") is the one to show. */
const INSIDE_ALTERNATIVE = /\/(anyOf|oneOf)\/\d+(\/|$)|\/not(\/|$)/;

/** A JSON pointer ("#/a/b~1c", URI-encoded by cfworker) as rjsf's property path (".a.b/c"). */
export function propertyPath(pointer: string): string {
  return pointer
    .replace(/^#/, "")
    .split("/")
    .slice(1)
    .map((part) => "." + decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~"))
    .join("");
}

/** One failure as rjsf shows it, with messages in the words rjsf users know from Ajv. */
function toRjsfError(unit: OutputUnit): RJSFValidationError {
  let property = propertyPath(unit.instanceLocation);
  let message = unit.error.replace(/\.$/, "");
  const params: Record<string, unknown> = {};
  const required = /^Instance does not have required property "(.*)"$/.exec(message);
  const type = /^Instance type ".*" is invalid\. Expected "(.*)"$/.exec(message);
  if (required) {
    const name = required[1] ?? "";
    params.missingProperty = name;
    property = `${property}.${name}`;
    message = `must have required property '${name}'`;
  } else if (type) {
    message = `must be ${(type[1] ?? "").replace(/", "/g, " or ")}`;
  } else if (unit.keyword === "false") {
    message = "is not allowed here";
  } else {
    message = message.replace(/^(Instance|String|Array) /, "");
  }
  return {
    name: unit.keyword,
    property,
    message,
    params,
    stack: `${property} ${message}`.trim(),
    schemaPath: unit.keywordLocation,
  };
}

export class InterpretingValidator implements ValidatorType<Data, RJSFSchema> {
  private cache = new WeakMap<object, Validator>();

  private validatorFor(schema: RJSFSchema, rootSchema?: RJSFSchema): Validator {
    const cached = rootSchema ? undefined : this.cache.get(schema);
    if (cached) return cached;
    const validator = new Validator(schema as Schema, "2020-12", false);
    if (rootSchema) validator.addSchema(rootSchema as Schema, ROOT_SCHEMA_PREFIX);
    else this.cache.set(schema, validator);
    return validator;
  }

  rawValidation<Result = OutputUnit>(schema: RJSFSchema, formData?: Data): { errors?: Result[]; validationError?: Error } {
    try {
      const result = this.validatorFor(schema).validate(formData);
      return { errors: result.valid ? undefined : (result.errors as Result[]) };
    } catch (error) {
      return { validationError: error instanceof Error ? error : new Error(String(error)) };
    }
  }

  /** The failures worth showing, one per field and message. */
  errorsOf(schema: RJSFSchema, formData: Data): { errors: RJSFValidationError[]; invalidSchema?: Error } {
    const raw = this.rawValidation<OutputUnit>(schema, formData);
    const seen = new Set<string>();
    const errors: RJSFValidationError[] = [];
    for (const unit of raw.errors ?? []) {
      if (WRAPPERS.has(unit.keyword) || INSIDE_ALTERNATIVE.test(unit.keywordLocation)) continue;
      const error = toRjsfError(unit);
      const key = `${error.property}\u0000${error.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      errors.push(error);
    }
    return { errors, invalidSchema: raw.validationError };
  }

  validateFormData(
    formData: Data | undefined,
    schema: RJSFSchema,
    customValidate?: CustomValidator<Data, RJSFSchema>,
    transformErrors?: ErrorTransformer<Data, RJSFSchema>,
    uiSchema?: UiSchema<Data, RJSFSchema>,
  ): ValidationData<Data> {
    const found = this.errorsOf(schema, formData);
    let errors = found.errors;
    if (found.invalidSchema) errors = [...errors, { stack: found.invalidSchema.message }];
    if (typeof transformErrors === "function") errors = transformErrors(errors, uiSchema);
    let errorSchema = toErrorSchema<Data>(errors);
    if (found.invalidSchema) {
      errorSchema = { ...errorSchema, $schema: { __errors: [found.invalidSchema.message] } } as ErrorSchema<Data>;
    }
    if (typeof customValidate !== "function") return { errors, errorSchema };
    const withDefaults = getDefaultFormState<Data, RJSFSchema>(this, schema, formData, schema, true);
    const handler = customValidate(withDefaults, createErrorHandler<Data>(withDefaults), uiSchema, errorSchema);
    return validationDataMerge<Data>({ errors, errorSchema }, unwrapErrorHandler<Data>(handler));
  }

  isValid(schema: RJSFSchema, formData: Data | undefined, rootSchema: RJSFSchema): boolean {
    try {
      // References into the root schema ("#/$defs/…") are rewritten to its id, as rjsf's Ajv validator does.
      const validator = this.validatorFor(withIdRefPrefix(schema) as RJSFSchema, rootSchema);
      return validator.validate(formData).valid;
    } catch {
      return false;
    }
  }

  reset(): void {
    this.cache = new WeakMap();
  }
}

export const validator = new InterpretingValidator();
