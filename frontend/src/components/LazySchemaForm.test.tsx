import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { SchemaForm } from "./LazySchemaForm";

afterEach(cleanup);

describe("the lazily loaded schema form", () => {
  it("says it is loading, then shows the form with its labelled fields", async () => {
    const schema = { type: "object", properties: { amount: { type: "number", title: "Amount" } } };
    render(<SchemaForm schema={schema} formData={{ amount: 3 }} idPrefix="lazy" />);
    expect(screen.getByText("Loading the form…")).toBeTruthy();
    const field = (await screen.findByLabelText(/Amount/)) as HTMLInputElement;
    expect(field.value).toBe("3");
    expect(screen.queryByText("Loading the form…")).toBeNull();
  });
});
