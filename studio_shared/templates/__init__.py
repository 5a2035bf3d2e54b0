"""Sandboxed ``{{ … }}`` templates for workflow node configs: expressions only, JSON data in and out, bounded cost.

Who writes what: workflow editors (semi-trusted) write the templates; run input, HTTP responses and LLM output
(untrusted) arrive as scope data (``input``, ``steps``, ``run``). Neither may reach Python internals, secrets,
files or other names, mutate the scope, or burn unbounded CPU/memory. The layers, outermost first:

* Only strings containing ``{{`` are templates. Their source is capped (``max_template_chars``), lexed and parsed:
  statements (``{% … %}``, ``{% raw %}``) and comments are refused, and the parsed AST may hold nothing but
  output, literal text and expression nodes (an allow-list by exact node type); ``__dunder`` attributes and the
  names Jinja treats specially (``self``, ``loop``, …) are refused at compile time.
* A jinja2 ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``, no loader, no extensions, no compile-time
  constant folding, the globals reduced to a ``range()`` of at most 10,000 numbers, and a reduced filter set.
  Attribute access is an allow-list per data type (read-only ``str``/``dict``/``list`` methods); a dict key wins
  over a method of the same name, so ``body.items`` is the key ``items`` when it exists.
* Every place that can create a value larger than its inputs is guarded *before* allocating: ``*``, ``+``, ``**``
  and ``%`` (intercepted binops), ``~``, list/tuple/dict literals, slices, ``str.format``/``%`` widths, ``join``,
  ``replace``, ``batch``, ``round``, ``sum``, ``center``/``ljust``/``rjust``/``zfill``. Each value a template
  creates must stay within ``max_output_chars`` (sizes are measured as approximate JSON characters, shared
  references counted every time they appear). Integers are capped at about 4,300 digits (Python's own int/str
  conversion limit).
* CPU is bounded by a work budget per ``render()`` call of ten times ``max_output_chars``: values built are charged
  their size, and filters, tests, comparisons and str/list methods are charged the size of the data they read
  (memoised per container, so measuring is paid once). Re-reading large scope data in many places therefore ends
  in a ``TemplateError`` instead of a long render. Scope data must be plain JSON data (dict, list, str, …).
* Results must be JSON data: a whole-string expression returns the native value (tuples become lists, Markup
  becomes str); anything else (functions, methods, undefined values, other objects) is a ``TemplateError``.
  In a mixed string a dict/list is inserted as compact JSON (``json.dumps``, ``ensure_ascii=False``) and ``None``
  as an empty string, so the text never shows Python reprs; ``~`` and ``| string`` convert the same way.
  All outputs of one ``render()`` call together are capped at ``max_output_chars``.
* No value a template yields is Infinity or NaN (JSON has neither, and a stored one would poison its run): a
  literal beyond ±1.8e308 is refused at compile time, and arithmetic, ``float``, ``int``, ``sum`` and ``fromjson``
  refuse a non-finite result where it arises (``'inf' | float``, ``1e308 * 10``, ``'[NaN]' | fromjson``); the
  conversion of results checks every number again.

Filters kept: abs, batch, capitalize, count, d, default, dictsort, e, escape, filesizeformat, first, float, format,
fromjson, groupby (yields ``{"grouper", "list"}`` objects), int, items, join, json, last, length, list, lower, map,
max, min, reject, rejectattr, replace, reverse, round, select, selectattr, sort, string, sum, title, tojson (alias
of json: compact JSON, not HTML-escaped), trim, truncate, unique, upper, urlencode, wordcount. Removed: attr,
center, forceescape, indent, pprint, random, safe, slice, striptags, urlize, wordwrap, xmlattr. Filters that
return iterators return lists, so ``items | select(...) | length`` works.

Rendered data is never rendered again: a scope value containing ``{{ 7*7 }}`` comes out literally. Note that
Jinja normalises newlines (``\\r\\n`` → ``\\n``) in the literal text of mixed template strings.

The package, one concept per module (underscore modules and names are internal):

* ``limits``: the numeric limits; ``allowlists``: node types, names, attributes, filters and tests allowed.
* ``errors``: ``TemplateError`` and data-safe messages; ``values``: JSON results, text conversion, number checks.
* ``meter``: the size and work meter of one render; ``formats``: bounded ``%``, ``str.format`` and ``replace``.
* ``filters``: the filter set; ``environment``: the sandbox environment; ``source``: lex, parse, check, compile.
* ``templates``: ``Templates`` and ``default_templates``.
* ``_jinja_internals``: every use of Jinja beyond its documented API (the code generator subclass, the guarded
  formatters, and four small hooks), pinned to the Jinja version it was verified against.
"""

from studio_shared.templates.errors import TemplateError
from studio_shared.templates.templates import Templates, default_templates

__all__ = ["TemplateError", "Templates", "default_templates"]
