import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Provider } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { UserError } from "../api/types";
import { emptySchedule, formatFire } from "../lib/schedule";
import { mockClient } from "../test/mockGraphQL";
import { ScheduleForm } from "./ScheduleForm";

afterEach(cleanup);

const FIRES = ["2025-06-02T07:00:00+00:00", "2025-06-03T07:00:00+00:00", "2025-06-04T07:00:00+00:00", "2025-06-05T07:00:00+00:00", "2025-06-06T07:00:00+00:00"];

function renderForm(onSubmit = vi.fn(async (): Promise<readonly UserError[]> => [])) {
  const api = mockClient({
    SchedulePreview: ({ cron, timezone }) => {
      const errors: UserError[] = [];
      if (cron.startsWith("61")) errors.push({ path: ["cron"], message: "minute 61 is out of range 0-59", code: "INVALID_CRON" });
      if (timezone === "Mars/Olympus") errors.push({ path: ["timezone"], message: "unknown timezone 'Mars/Olympus'", code: "INVALID_TIMEZONE" });
      return { schedulePreview: { fires: errors.length ? [] : FIRES, errors } };
    },
  });
  render(
    <Provider value={api.client}>
      <ScheduleForm title="New schedule" submitLabel="Create schedule" initial={emptySchedule("UTC")} onSubmit={onSubmit} />
    </Provider>,
  );
  return { ...api, onSubmit };
}

const describedText = (label: string) => {
  const input = screen.getByLabelText(label);
  return (input.getAttribute("aria-describedby") ?? "")
    .split(" ")
    .map((id) => document.getElementById(id)?.textContent ?? "")
    .join(" ");
};

describe("ScheduleForm preview", () => {
  it("asks the server once the typing settles and lists the next fires in the chosen timezone", async () => {
    const api = renderForm();
    const cron = screen.getByLabelText("Cron expression");
    for (const text of ["0", "0 9", "0 9 * *", "0 9 * * 1-5"]) fireEvent.change(cron, { target: { value: text } });
    fireEvent.change(screen.getByLabelText("Timezone"), { target: { value: "Europe/Berlin" } });

    const list = await screen.findByRole("list", { name: "Next fires" });
    const items = within(list).getAllByRole("listitem").map((li) => li.textContent);
    expect(items).toEqual(FIRES.map((iso) => formatFire(iso, "Europe/Berlin")));
    expect(items[0]).toMatch(/09:00:00/); // 07:00 UTC on Berlin's summer clock
    expect(screen.getByTestId("cron-description").textContent).toBe("At 09:00, Monday through Friday");
    expect(screen.getByRole("heading", { name: /Next 5 fires \(Europe\/Berlin\)/ })).toBeTruthy();
    // Debounced: one request, with what was typed last.
    expect(api.named("SchedulePreview").map((c) => c.variables)).toEqual([{ cron: "0 9 * * 1-5", timezone: "Europe/Berlin", count: 5 }]);
  });

  it("shows the preview's errors under the field they belong to", async () => {
    renderForm();
    fireEvent.change(screen.getByLabelText("Cron expression"), { target: { value: "61 * * * *" } });
    await screen.findByText("minute 61 is out of range 0-59");
    expect(screen.getByLabelText("Cron expression").getAttribute("aria-invalid")).toBe("true");
    expect(describedText("Cron expression")).toContain("minute 61 is out of range");
    expect(screen.queryByRole("list", { name: "Next fires" })).toBeNull();
    expect(screen.queryByTestId("cron-description")).toBeNull();

    fireEvent.change(screen.getByLabelText("Cron expression"), { target: { value: "@daily" } });
    fireEvent.change(screen.getByLabelText("Timezone"), { target: { value: "Mars/Olympus" } });
    await screen.findByText("unknown timezone 'Mars/Olympus'");
    expect(describedText("Timezone")).toContain("unknown timezone");
    expect(screen.getByLabelText("Cron expression").getAttribute("aria-invalid")).toBeNull();
  });

  it("sends the settings and puts the save's errors on their fields", async () => {
    const onSubmit = vi.fn(async (): Promise<readonly UserError[]> => [
      { path: ["input", "input", "amount"], message: '"amount" is a required property', code: "INVALID_INPUT" },
      { path: ["input", "jitterS"], message: "jitterS is between 0 and 3600 seconds", code: "OUT_OF_RANGE" },
    ]);
    renderForm(onSubmit);
    fireEvent.change(screen.getByLabelText("Cron expression"), { target: { value: "0 9 * * 1-5" } });
    fireEvent.change(screen.getByLabelText("Run input (JSON, optional)"), { target: { value: '{"x": 1}' } });
    fireEvent.change(screen.getByLabelText(/^Jitter/), { target: { value: "30" } });
    fireEvent.click(screen.getByRole("button", { name: "Create schedule" }));
    await screen.findByText('"amount" is a required property');
    expect(onSubmit).toHaveBeenCalledWith(expect.objectContaining({ cron: "0 9 * * 1-5", timezone: "UTC", input: { x: 1 }, jitterS: 30 }));
    expect(describedText("Run input (JSON, optional)")).toContain('"amount" is a required property');
    await waitFor(() => expect(describedText("Jitter (seconds, 0 to 3600)")).toContain("between 0 and 3600"));
  });

  it("refuses a run input that is not JSON without asking the server", async () => {
    const { onSubmit } = renderForm();
    fireEvent.change(screen.getByLabelText("Cron expression"), { target: { value: "@daily" } });
    fireEvent.change(screen.getByLabelText("Run input (JSON, optional)"), { target: { value: "{" } });
    fireEvent.click(screen.getByRole("button", { name: "Create schedule" }));
    await screen.findByText("the run input is not valid JSON");
    expect(onSubmit).not.toHaveBeenCalled();
  });
});
