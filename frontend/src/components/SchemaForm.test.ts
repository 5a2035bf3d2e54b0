import { describe, expect, it } from "vitest";
import { uiSchemaFor } from "./SchemaForm";

describe("uiSchemaFor", () => {
  it("gives templates the template widget and long non-template text a plain text area", () => {
    const ui = uiSchemaFor({
      type: "object",
      properties: {
        text: { type: "string", "x-ui-widget": "template", "x-ui-multiline": true },
        url: { type: "string", "x-ui-widget": "template" },
        sql: { type: "string", "x-ui-multiline": true },
        name: { type: "string" },
      },
    });
    expect(ui.text).toMatchObject({ "ui:widget": "template", "ui:options": { multiline: true } });
    expect(ui.url).toMatchObject({ "ui:widget": "template", "ui:options": { multiline: false } });
    expect(ui.sql).toEqual({ "ui:widget": "textarea", "ui:options": { rows: 6 } });
    expect(ui.name).toBeUndefined();
  });
});
