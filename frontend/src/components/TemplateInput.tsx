// A text field for templates with path suggestions: inside `{{ … }}` it lists the `input.*`, `steps.<id>.output.*`
// and `run.*` paths the node can read (a combobox: ArrowUp/Down move, Enter or Tab accepts, Escape closes).
import type { WidgetProps } from "@rjsf/utils";
import { ariaDescribedByIds } from "@rjsf/utils";
import {
  createContext,
  useContext,
  useId,
  useLayoutEffect,
  useRef,
  useState,
  type ChangeEvent,
  type KeyboardEvent,
  type SyntheticEvent,
} from "react";
import {
  applySuggestion,
  matchSuggestions,
  templateContext,
  type TemplateContext,
  type TemplateSuggestion,
} from "../lib/templatePaths";
import { cn } from "../lib/utils";
import { Input } from "./ui/input";
import { Textarea } from "./ui/textarea";

/** The paths the edited node's templates can read; the inspector provides them, other forms provide none. */
export const TemplateSuggestionsContext = createContext<readonly TemplateSuggestion[]>([]);

type Field = HTMLInputElement | HTMLTextAreaElement;

export interface TemplateInputProps {
  id: string;
  value: string;
  onChange: (value: string) => void;
  suggestions: readonly TemplateSuggestion[];
  multiline?: boolean;
  rows?: number;
  placeholder?: string;
  disabled?: boolean;
  readOnly?: boolean;
  required?: boolean;
  invalid?: boolean;
  describedBy?: string;
  onBlur?: (value: string) => void;
  onFocus?: (value: string) => void;
}

interface Open {
  ctx: TemplateContext;
  items: TemplateSuggestion[];
  active: number;
}

export function TemplateInput(props: TemplateInputProps) {
  const { id, value, onChange, suggestions, multiline, rows, describedBy, invalid } = props;
  const listId = `${useId()}-paths`;
  const ref = useRef<Field>(null);
  const [open, setOpen] = useState<Open | null>(null);
  const pendingCaret = useRef<number | null>(null);
  const editable = !props.disabled && !props.readOnly;
  const combo = editable && suggestions.length > 0;

  // After accepting a path, put the caret behind it once the new value has rendered.
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && pendingCaret.current !== null && el.value === value) {
      el.setSelectionRange(pendingCaret.current, pendingCaret.current);
      pendingCaret.current = null;
    }
  }, [value]);

  const refresh = (text: string, caret: number | null) => {
    if (!combo || caret === null) return setOpen(null);
    const ctx = templateContext(text, caret);
    const items = ctx ? matchSuggestions(suggestions, ctx.query) : [];
    setOpen(ctx && items.length ? { ctx, items, active: 0 } : null);
  };

  const accept = (item: TemplateSuggestion) => {
    if (!open) return;
    const next = applySuggestion(value, open.ctx, item.path);
    pendingCaret.current = next.caret;
    setOpen(null);
    onChange(next.text);
  };

  const onKeyDown = (e: KeyboardEvent<Field>) => {
    if (!open) return;
    const count = open.items.length;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const step = e.key === "ArrowDown" ? 1 : -1;
      setOpen({ ...open, active: (open.active + step + count) % count });
    } else if (e.key === "Enter" || e.key === "Tab") {
      if (e.shiftKey && e.key === "Tab") return;
      e.preventDefault();
      accept(open.items[open.active]!);
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      setOpen(null);
    }
  };

  const common = {
    id,
    ref: ref as never,
    value,
    placeholder: props.placeholder,
    disabled: props.disabled,
    readOnly: props.readOnly,
    required: props.required,
    autoComplete: "off",
    spellCheck: false,
    // A combobox only where there is something to suggest (a plain field elsewhere).
    ...(combo
      ? {
          role: "combobox",
          "aria-autocomplete": "list" as const,
          "aria-expanded": !!open,
          "aria-controls": listId,
          "aria-activedescendant": open ? `${listId}-${open.active}` : undefined,
        }
      : {}),
    "aria-describedby": describedBy,
    "aria-invalid": invalid ? true : undefined,
    onChange: (e: ChangeEvent<Field>) => {
      onChange(e.target.value);
      refresh(e.target.value, e.target.selectionStart);
    },
    onKeyDown,
    // A caret moved by click or arrow keys (outside the list) reconsiders the context.
    onKeyUp: (e: KeyboardEvent<Field>) => {
      if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) {
        refresh(e.currentTarget.value, e.currentTarget.selectionStart);
      }
    },
    onClick: (e: SyntheticEvent<Field>) => refresh(e.currentTarget.value, e.currentTarget.selectionStart),
    onBlur: (e: SyntheticEvent<Field>) => {
      setOpen(null);
      props.onBlur?.(e.currentTarget.value);
    },
    onFocus: (e: SyntheticEvent<Field>) => props.onFocus?.(e.currentTarget.value),
  };

  return (
    <div className="relative">
      {multiline ? <Textarea rows={rows ?? 4} {...common} /> : <Input type="text" {...common} />}
      {combo ? (
        <ul
          id={listId}
          // biome-ignore lint/a11y/noNoninteractiveElementToInteractiveRole: the ARIA combobox pattern: a listbox of options, the field keeps the focus
          role="listbox"
          aria-label="Template paths"
          className="absolute inset-x-0 top-full z-10 mt-0.5 max-h-56 overflow-auto rounded-md border bg-popover py-0.5 text-popover-foreground shadow-md"
          hidden={!open}
        >
          {open?.items.map((item, i) => (
            // biome-ignore lint/a11y/useFocusableInteractive: options are not focusable here: the field keeps the focus and names the active one with aria-activedescendant
            <li
              key={item.path}
              id={`${listId}-${i}`}
              // biome-ignore lint/a11y/noNoninteractiveElementToInteractiveRole: the ARIA combobox pattern: an option of the listbox
              role="option"
              aria-selected={i === open.active}
              className={cn(
                "cursor-pointer truncate px-2 py-1 text-xs",
                i === open.active && "bg-primary text-primary-foreground",
              )}
              // Keep the focus in the field: a mousedown would blur it (and close the list) before the click.
              onMouseDown={(e) => {
                e.preventDefault();
                accept(item);
              }}
              onMouseEnter={() => setOpen({ ...open, active: i })}
            >
              <code>{item.path}</code>
              {item.detail ? <span className={i === open.active ? "opacity-80" : "text-muted-foreground"}> {item.detail}</span> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** The rjsf widget for `x-ui-widget: template` strings (`ui:options.multiline` for a textarea). */
export function TemplateWidget(props: WidgetProps) {
  const suggestions = useContext(TemplateSuggestionsContext);
  const { id, value, onChange, onBlur, onFocus, options, placeholder, disabled, readonly, required, rawErrors } = props;
  return (
    <TemplateInput
      id={id}
      value={value == null ? "" : String(value)}
      onChange={(next) => onChange(next === "" ? options.emptyValue : next)}
      onBlur={(v) => onBlur(id, v)}
      onFocus={(v) => onFocus(id, v)}
      suggestions={suggestions}
      multiline={!!options.multiline}
      rows={typeof options.rows === "number" ? options.rows : undefined}
      placeholder={placeholder}
      disabled={disabled}
      readOnly={readonly}
      required={required}
      invalid={!!rawErrors?.length}
      describedBy={ariaDescribedByIds(id)}
    />
  );
}
