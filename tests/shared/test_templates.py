"""The template engine: native JSON results, error paths, expressions-only syntax, and a sandbox that holds."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from studio_shared.templates import TemplateError, Templates, default_templates
from tests.timing import HANG_S

CORPUS = json.loads((Path(__file__).parent.parent / "corpora" / "ssti.json").read_text(encoding="utf-8"))
LEAKS = (
    "<class",
    "<function",
    "<built-in",
    "<bound",
    "<module",
    "<jinja2",
    "<generator",
    " object at 0x",
    "__globals__",
    "subclasses",
    "os.",
    "posix",
    "TemplateReference",
    "Undefined",
)
CANARY = "canary-7f3a"


def make_scope() -> dict[str, Any]:
    return {
        "input": {
            "amount": 150,
            "price": 12.345,
            "name": "Ada",
            "tags": ["b", "a", CANARY],
            "nested": {"deep": {"secret": CANARY, "n": [1, 2, 3]}},
            "note": "{{ 7*7 }} {% for x in y %}{% endfor %} {{ input.__class__ }}",
            "flag": True,
            "nothing": None,
            "b": "x" * 1000,
        },
        "steps": {
            "fetch": {"output": {"status": 200, "body": {"items": [{"id": 1, "ok": True}, {"id": 2, "ok": False}]}}}
        },
        "run": {"id": "run-1", "workflow": "wf-1", "version": 3, "trigger": "manual"},
    }


@pytest.fixture
def templates() -> Templates:
    return Templates()


@pytest.fixture
def scope() -> dict[str, Any]:
    return make_scope()


def render(templates: Templates, source: str, scope: dict[str, Any]) -> Any:
    return templates.render(source, scope)


def error_of(templates: Templates, value: Any, scope: dict[str, Any], **kwargs: Any) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        templates.render(value, scope, **kwargs)
    return info.value


# --- native values and text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ input.amount > 100 }}", True),
        ("{{ input.amount < 100 }}", False),
        ("{{ input.amount }}", 150),
        ("{{ input.price }}", 12.345),
        ("{{ input.nothing }}", None),
        ("{{ input.name }}", "Ada"),
        ("{{ input.tags }}", ["b", "a", CANARY]),
        ("{{ input.nested.deep }}", {"secret": CANARY, "n": [1, 2, 3]}),
        ("{{ steps.fetch.output.body.items }}", [{"id": 1, "ok": True}, {"id": 2, "ok": False}]),
        ("  {{ input.amount }}\n", 150),
        ("{{- input.amount -}}", 150),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ {'a': (1, none)} }}", {"a": [1, None]}),
        ("{{ {1: 'x', none: 'y', 2.5: 'z'} }}", {"1": "x", "null": "y", "2.5": "z"}),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ input.name|e }}", "Ada"),
        ("{{ '}}' }}", "}}"),
    ],
)
def test_whole_string_expression_yields_native_json_data(
    templates: Templates, scope: dict[str, Any], source: str, expected: Any
) -> None:
    result = render(templates, source, scope)
    assert result == expected
    assert type(result) is type(expected)


def test_markup_becomes_plain_str(templates: Templates, scope: dict[str, Any]) -> None:
    result = render(templates, "{{ '<b>'|e }}", scope)
    assert result == "&lt;b&gt;"
    assert type(result) is str


def test_mixed_strings_render_text_with_json_for_containers_and_empty_none(
    templates: Templates, scope: dict[str, Any]
) -> None:
    assert render(templates, "Approve {{ input.amount }}", scope) == "Approve 150"
    assert render(templates, "tags={{ input.tags }}", scope) == f'tags=["b","a","{CANARY}"]'
    assert render(templates, "d={{ input.nested.deep }};", scope) == f'd={{"secret":"{CANARY}","n":[1,2,3]}};'
    assert render(templates, "[{{ input.nothing }}]", scope) == "[]"
    assert render(templates, "{{ input.flag }}/{{ 1.5 }}", scope) == "True/1.5"
    assert render(templates, "{{ 'é' }} {{ ['é'] }}", scope) == 'é ["é"]'  # ensure_ascii=False
    assert render(templates, "a {{ input.name }}\n", scope) == "a Ada\n"  # trailing newline kept
    assert render(templates, "{{ input.name }}{{ input.amount }}", scope) == "Ada150"


def test_concat_and_string_filter_convert_like_output(templates: Templates, scope: dict[str, Any]) -> None:
    assert render(templates, "{{ 'id-' ~ run.id }}", scope) == "id-run-1"
    assert render(templates, "{{ 'n=' ~ input.nested.deep.n ~ input.nothing }}", scope) == "n=[1,2,3]"
    assert render(templates, "{{ input.tags | string }}", scope) == f'["b","a","{CANARY}"]'


def test_strings_without_templates_are_returned_as_is(templates: Templates, scope: dict[str, Any]) -> None:
    for text in ["plain", "{% for x in y %}", "{# note #}", "{ { x } }", ""]:
        assert templates.render(text, scope) is text
    config = {"a": 1, "b": [True, None, 2.5, "x"], "c": {"d": "plain"}}
    result = templates.render(config, scope)
    assert result == config
    assert result is not config
    assert result["b"] is not config["b"]


def test_render_walks_configs_without_mutating_them(templates: Templates, scope: dict[str, Any]) -> None:
    config = {
        "method": "POST",
        "url": "https://example.org/{{ run.id }}",
        "body": {"id": "{{ run.id }}", "items": ["{{ input.amount * 2 }}", 7, {"t": "{{ input.tags | length }}"}]},
        "retries": 3,
    }
    before = copy.deepcopy(config)
    result = templates.render(config, scope)
    assert result == {
        "method": "POST",
        "url": "https://example.org/run-1",
        "body": {"id": "run-1", "items": [300, 7, {"t": 3}]},
        "retries": 3,
    }
    assert config == before


def test_native_results_are_copies_not_the_scope_objects(templates: Templates, scope: dict[str, Any]) -> None:
    result = render(templates, "{{ input.nested }}", scope)
    result["deep"]["n"].append(4)
    assert scope["input"]["nested"]["deep"]["n"] == [1, 2, 3]


# --- errors and paths ----------------------------------------------------------------------------------------------


def test_errors_carry_the_config_path(templates: Templates, scope: dict[str, Any]) -> None:
    error = error_of(templates, {"body": {"id": "{{ input.missing }}"}}, scope)
    assert error.path == ("body", "id")
    assert str(error).startswith("body.id: ")
    error = error_of(templates, {"a": [1, {"b": "x {{ 1 / 0 }}"}]}, scope, path=("nodes", "3", "config"))
    assert error.path == ("nodes", "3", "config", "a", "1", "b")
    assert "division by zero" in error.message


def test_strict_undefined_names_the_missing_key(templates: Templates, scope: dict[str, Any]) -> None:
    for source in ["{{ input.missing }}", "{{ input['missing'] }}", "x {{ input.missing }}", "{{ input.missing > 1 }}"]:
        error = error_of(templates, source, scope)
        assert "'missing'" in error.message
        assert "default" in error.message
    assert "'nope' is undefined" in error_of(templates, "{{ nope }}", scope).message
    assert "'secret2'" in error_of(templates, "{{ input.nested.deep.secret2 }}", scope).message


def test_optional_values(templates: Templates, scope: dict[str, Any]) -> None:
    assert render(templates, "{{ input.get('x', 3) }}", scope) == 3
    assert render(templates, "{{ input.get('x') }}", scope) is None
    assert render(templates, "{{ input.x | default(0) }}", scope) == 0
    assert render(templates, "{{ input.x | d('n/a') }}", scope) == "n/a"
    assert render(templates, "{{ input.nothing | default('z', true) }}", scope) == "z"
    assert render(templates, "{{ input.x is defined }}", scope) is False


def test_error_messages_do_not_echo_long_scope_values(templates: Templates) -> None:
    secret = "S" * 500
    scope = {"input": {"key": secret, "t": {}}, "steps": {}, "run": {}}
    for source in [
        "{{ input.t[input.key] }}",
        "{{ input.key | int + 'a' }}",
        "{{ input.key + 1 }}",
        "{{ input.key() }}",
    ]:
        error = error_of(templates, source, scope)
        assert "S" * 61 not in str(error)


def test_data_is_never_rendered_twice(templates: Templates, scope: dict[str, Any]) -> None:
    note = scope["input"]["note"]
    assert render(templates, "{{ input.note }}", scope) == note
    assert render(templates, "note: {{ input.note }}", scope) == f"note: {note}"
    assert render(templates, "{{ input }}", scope)["note"] == note
    assert render(templates, "{{ '{{ 7*7 }}' }}", scope) == "{{ 7*7 }}"
    data = {"input": {"x": "{{ 7*7 }}", "y": "{% for %}", "z": "{{ input.__class__ }}"}, "steps": {}, "run": {}}
    config = {"a": "{{ input.x }}", "b": "{{ input.y }}", "c": "{{ input.z }}", "d": "<{{ input.x }}>"}
    assert templates.render(config, data) == {
        "a": "{{ 7*7 }}",
        "b": "{% for %}",
        "c": "{{ input.__class__ }}",
        "d": "<{{ 7*7 }}>",
    }


# --- the expression language ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ input.amount + 1 }}", 151),
        ("{{ input.amount - 50 * 2 }}", 50),
        ("{{ input.amount / 4 }}", 37.5),
        ("{{ input.amount // 4 }}", 37),
        ("{{ input.amount % 7 }}", 3),
        ("{{ 2 ** 10 }}", 1024),
        ("{{ -input.amount }}", -150),
        ("{{ input.amount >= 150 and input.amount != 151 }}", True),
        ("{{ 100 < input.amount < 200 }}", True),
        ("{{ 100 < input.amount < 120 }}", False),
        ("{{ 'a' in input.tags }}", True),
        ("{{ 'z' not in input.tags }}", True),
        ("{{ 'amount' in input }}", True),
        ("{{ 'da' in input.name }}", True),
        ("{{ 'big' if input.amount > 100 else 'small' }}", "big"),
        ("{{ not input.flag }}", False),
        ("{{ input.amount is divisibleby 50 }}", True),
        ("{{ input.tags[0] }}", "b"),
        ("{{ input.tags[-1:] }}", [CANARY]),
        ("{{ input.name[::-1] }}", "adA"),
        ("{{ input['name'] }}", "Ada"),
        ("{{ input.nested['deep'].n[1] }}", 2),
        ("{{ steps.fetch.output.body.items | length }}", 2),
        ("{{ steps.fetch.output.body['items'][0].id }}", 1),
        ("{{ steps.fetch.output.body.items | map(attribute='id') | list }}", [1, 2]),
        ("{{ steps.fetch.output.body.items | selectattr('ok') | map(attribute='id') | list }}", [1]),
        ("{{ steps.fetch.output.body.items | rejectattr('ok') | length }}", 1),
        ("{{ input.tags | select('ne', 'a') | list }}", ["b", CANARY]),
        ("{{ input.tags | length }}", 3),
        ("{{ input.tags | count }}", 3),
        ("{{ input.name | upper }}", "ADA"),
        ("{{ input.name | lower }}", "ada"),
        ("{{ input.name.upper() }}", "ADA"),
        ("{{ 'a,b'.split(',') }}", ["a", "b"]),
        ("{{ ', '.join(input.tags[:2]) }}", "b, a"),
        ("{{ input.tags | join('-') }}", f"b-a-{CANARY}"),
        ("{{ input.tags | sort | first }}", "a"),
        ("{{ input.tags | reverse | list }}", [CANARY, "a", "b"]),
        ("{{ input.nested.deep.n | sum }}", 6),
        ("{{ input.nested.deep.n | max }}", 3),
        ("{{ [[1], [2, 3]] | sum(start=[]) }}", [1, 2, 3]),
        ("{{ input.nested.deep | json }}", f'{{"secret":"{CANARY}","n":[1,2,3]}}'),
        ("{{ input.nested.deep | tojson }}", f'{{"secret":"{CANARY}","n":[1,2,3]}}'),
        ("{{ '{\"a\": [1, 2]}' | fromjson }}", {"a": [1, 2]}),
        ("{{ (input.nested | json | fromjson) == input.nested }}", True),
        ("{{ input.price | round(1) }}", 12.3),
        ("{{ input.price | round }}", 12.0),
        ("{{ input.price | int }}", 12),
        ("{{ '42' | int + 1 }}", 43),
        ("{{ '3.5' | float }}", 3.5),
        ("{{ input.items() | list | length }}", 9),
        ("{{ input.nested.deep.keys() | list }}", ["secret", "n"]),
        ("{{ '%.2f' % input.price }}", "12.35"),
        ("{{ '%s-%s' | format(input.name, run.id) }}", "Ada-run-1"),
        ("{{ '{}:{:>5}'.format(input.name, input.amount) }}", "Ada:  150"),
        ("{{ 'a-b-c' | replace('-', '+') }}", "a+b+c"),
        ("{{ ' x ' | trim }}", "x"),
        ("{{ 'hello world' | title }}", "Hello World"),
        ("{{ 'hello world foo' | wordcount }}", 3),
        ("{{ 'x' * 3 }}", "xxx"),
        ("{{ [0] * 3 }}", [0, 0, 0]),
        ("{{ [1] + [2] }}", [1, 2]),
        ("{{ range(1, 7, 2) | list }}", [1, 3, 5]),
        ("{{ [1, 2, 3, 4, 5] | batch(2) | list }}", [[1, 2], [3, 4], [5]]),
        ("{{ [3, 1, 2] | sort(reverse=true) }}", [3, 2, 1]),
        ("{{ ['a', 'b', 'a'] | unique | list }}", ["a", "b"]),
        ("{{ {'b': 1, 'a': 2} | dictsort }}", [["a", 2], ["b", 1]]),
        ("{{ steps.fetch.output.body.items | groupby('ok') | map(attribute='grouper') | list }}", [False, True]),
        ("{{ 1000000 | filesizeformat }}", "1.0 MB"),
        ("{{ 'a b' | urlencode }}", "a%20b"),
        ("{{ 'abcdefghij' | truncate(5, true, '', 0) }}", "abcde"),
        ("{{ input.tags | first }}", "b"),
        ("{{ input.tags | last }}", CANARY),
        ("{{ input.tags | min }}", "a"),
        ("{{ -3 | abs }}", 3),
        ("{{ 'a' ~ 1 ~ none }}", "a1"),
    ],
)
def test_expressions(templates: Templates, scope: dict[str, Any], source: str, expected: Any) -> None:
    assert render(templates, source, scope) == expected


def test_dict_keys_win_over_methods_of_the_same_name(templates: Templates) -> None:
    scope = {"input": {"items": [1, 2], "keys": "k", "get": 5}, "steps": {}, "run": {}}
    assert templates.render("{{ input.items }}", scope) == [1, 2]
    assert templates.render("{{ input.keys }}", scope) == "k"
    assert templates.render("{{ input['get'] }}", scope) == 5
    assert templates.render("{{ {'a': 1}.get('a') }}", scope) == 1


def test_evaluate(templates: Templates, scope: dict[str, Any]) -> None:
    assert templates.evaluate("{{ input.amount > 100 }}", scope) is True
    assert templates.evaluate("{{ input.tags }}", scope) == ["b", "a", CANARY]
    assert templates.evaluate("{{ input.name }}-x", scope) == "Ada-x"
    with pytest.raises(TemplateError, match=r"expected an expression"):
        templates.evaluate("input.amount > 100", scope)
    with pytest.raises(TemplateError) as info:
        templates.evaluate("{{ input.nope }}", scope, path=("expression",))
    assert info.value.path == ("expression",)


def test_non_data_results_are_refused(templates: Templates, scope: dict[str, Any]) -> None:
    for source in ["{{ input.get }}", "{{ 'x'.upper }}", "{{ range }}", "x {{ input.get }}", "{{ [input.get] }}"]:
        assert "function" in error_of(templates, source, scope).message


def test_default_templates_is_shared() -> None:
    assert default_templates() is default_templates()
    assert default_templates().max_output_chars == 1_000_000


# --- syntax: expressions only ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{% if input.flag %}{{ 1 }}{% endif %}",
        "{{ 1 }}{% for x in input.tags %}{{ x }}{% endfor %}",
        "{% set x = 1 %}{{ x }}",
        "{% raw %}{{ 1 }}{% endraw %}{{ 2 }}",
        "{% include 'x' %}{{ 1 }}",
        "{% import 'x' as y %}{{ 1 }}",
        "{% extends 'x' %}{{ 1 }}",
        "{% macro m() %}{% endmacro %}{{ 1 }}",
        "{% call m() %}{% endcall %}{{ 1 }}",
        "{% filter upper %}a{% endfilter %}{{ 1 }}",
    ],
)
def test_statements_are_refused(templates: Templates, scope: dict[str, Any], source: str) -> None:
    error = error_of(templates, source, scope)
    assert "statements" in error.message
    assert "expression" in error.message


def test_comments_are_refused(templates: Templates, scope: dict[str, Any]) -> None:
    assert "comments" in error_of(templates, "{# hi #}{{ 1 }}", scope).message


def test_check_reports_problems_with_paths_without_rendering(templates: Templates) -> None:
    config = {
        "ok": "{{ input.amount > 1 }}",
        "plain": "no template {% here %}",
        "syntax": {"x": "{{ input.amount > }}"},
        "statement": ["fine", "{% for x in y %}{{ x }}{% endfor %}"],
        "comment": "{# c #}{{ 1 }}",
        "filter": "{{ input | attr('x') }}",
        "dunder": "{{ input.__class__ }}",
        "long": "{{ 1 }}" + " " * 20_001,
        "never_run": "{{ 1 / 0 }} {{ input.nope }} {{ 'x' | upper }}",
    }
    problems = dict(templates.check(config, path=("nodes", "0", "config")))
    prefix = ("nodes", "0", "config")
    assert set(problems) == {
        (*prefix, "syntax", "x"),
        (*prefix, "statement", "1"),
        (*prefix, "comment"),
        (*prefix, "filter"),
        (*prefix, "dunder"),
        (*prefix, "long"),
    }
    assert "syntax error" in problems[(*prefix, "syntax", "x")]
    assert "statements" in problems[(*prefix, "statement", "1")]
    assert "attr" in problems[(*prefix, "filter")]
    assert "20,000" in problems[(*prefix, "long")]
    assert templates.check("{{ input.x }}") == []


def test_max_template_chars(scope: dict[str, Any]) -> None:
    templates = Templates(max_template_chars=30)
    assert templates.render("{{ input.amount }}" + " " * 12, scope) == 150
    error = error_of(templates, {"a": "{{ input.amount }}" + " " * 13}, scope)
    assert error.path == ("a",)
    assert "31 characters" in error.message and "limit is 30" in error.message


def test_compiled_templates_are_cached(scope: dict[str, Any]) -> None:
    templates = Templates(cache_size=2)
    for _ in range(5):
        templates.render({"a": "{{ input.amount }}", "b": "x {{ input.amount }}"}, scope)
    info = templates.cache_info()
    assert (info.misses, info.hits, info.currsize) == (2, 8, 2)
    templates.check("{{ input.amount }}")
    assert templates.cache_info().misses == 2
    templates.render("{{ run.id }}", scope)  # evicts the least recently used entry, "x {{ input.amount }}"
    templates.render("{{ input.amount }}", scope)
    assert templates.cache_info().misses == 3
    templates.render("x {{ input.amount }}", scope)
    assert templates.cache_info().misses == 4
    for _ in range(3):  # failures are cached too
        templates.check("{{ ( }}")
    assert templates.cache_info().misses == 5


# --- resource limits ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 'x' * 1000000000 }}", "the limit is 1,000"),
        ("{{ [1] * 1000000000 }}", "the limit is 1,000"),
        ("{{ [[0] * 100000] * 100000 }}", "the limit is 1,000"),
        ("{{ 'a' * 600000 + 'a' * 600000 }}", "the limit is 1,000"),
        ("{{ ('a' * 600000) ~ ('a' * 600000) }}", "the limit is 1,000"),
        ("{{ 2 ** (10 ** 8) }}", "too large"),
        ("{{ 10 ** 5000 }}", "too large"),
        ("{{ 9 ** (9 ** 9) }}", "too large"),
        ("{{ (2 ** 14000) * (2 ** 14000) }}", "too large"),
        ("{{ range(10**9) | list }}", "10,000"),
        ("{{ '%999999999d' % 1 }}", "too large"),
        ("{{ '%*d' % (999999999, 1) }}", "'*' widths"),
        ("{{ '%999999999s' | format(1) }}", "too large"),
        ("{{ '{:>999999999}'.format(1) }}", "too large"),
        ("{{ '{0:>{1}}'.format(1, 999999999) }}", "too large"),
        ("{{ ('{0}' * 100000).format('x' * 100000) }}", "the limit is 1,000"),
        ("{{ (1, 2) | join('x' * 100000000) }}", "the limit is 1,000"),
        ("{{ range(10000) | join('x' * 200) }}", "the limit is 1,000"),
        ("{{ 'a' | replace('', 'x' * 900000) }}", "the limit is 1,000"),
        ("{{ 'x'.center(10**9) }}", "the limit is 1,000"),
        ("{{ 12345 | round(-1000000000) }}", "round precision"),
        ("{{ [1] | batch(1000000000) }}", "batch size"),
        ("{{ ([[0] * 100000] * 4) | sum(start=[]) + [[0] * 100000] * 3 }}", "the limit is 1,000"),
    ],
)
def test_resource_limits(templates: Templates, scope: dict[str, Any], source: str, expected: str) -> None:
    started = time.perf_counter()
    assert expected in error_of(templates, source, scope).message
    assert time.perf_counter() - started < HANG_S  # unguarded: a billion-wide string, a billion-item batch


def test_repeated_work_on_large_data_is_bounded(templates: Templates) -> None:
    scope = {"input": {"numbers": list(range(400_000)), "text": "x" * 900_000}, "steps": {}, "run": {}}
    for expression in ["input.numbers | max", "'y' in input.text", "input.text.count('y')", "5 in input.numbers"]:
        source = "{{ [" + ", ".join([expression] * 200) + "] | length }}"
        started = time.perf_counter()
        assert "too much data" in error_of(templates, source, scope).message  # the work meter stopped it
        assert time.perf_counter() - started < HANG_S
    assert templates.render("{{ input.numbers | max }}", scope) == 399_999  # one pass is fine


def test_output_limits(scope: dict[str, Any]) -> None:
    templates = Templates(max_output_chars=1_000)
    assert len(templates.render("{{ 'x' * 900 }}", scope)) == 900
    assert "limit" in error_of(templates, "{{ 'x' * 1001 }}", scope).message
    big = {"input": {"s": "y" * 800}, "steps": {}, "run": {}}
    assert "larger than the limit" in error_of(templates, {"a": "{{ input.s }}", "b": "{{ input.s }}"}, big).message
    assert "larger than the limit" in error_of(templates, "{{ input.s }} {{ input.s }}", big).message
    assert "limit is 1,000" in error_of(templates, "{{ [input.s, input.s] | length }}", big).message


def test_literal_sharing_cannot_amplify(templates: Templates) -> None:
    scope = {"input": {"s": "z" * 300_000}, "steps": {}, "run": {}}
    source = "{{ [" + ", ".join(["input.s"] * 1000) + "] | join }}"
    assert "limit" in error_of(templates, source, scope).message


# --- non-finite numbers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["inf", "nan", "-Infinity", "1e400", " +INF "])
def test_non_finite_numbers_never_leave_a_template(templates: Templates, amount: str) -> None:
    """Issue 17 item 7: `{{ input.amount | float * 1.2 }}` with amount "inf" yielded Infinity, which no JSON
    column can hold: the step must fail with a message that says why, whatever shape the result has."""
    scope = {"input": {"amount": amount}, "steps": {}, "run": {}}
    for value in (
        "{{ input.amount | float * 1.2 }}",
        "total: {{ input.amount | float }}",
        {"order": ["{{ {'total': input.amount | float} }}"]},
        "{{ input.amount | int }}",
    ):
        error = error_of(templates, value, scope, path=("config",))
        assert "not a finite number; JSON has no Infinity or NaN" in error.message, error.message
        assert error.path[0] == "config"


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ input.big * 10 }}", "the result of * is Infinity"),
        ("{{ -input.big - input.big }}", "the result of - is -Infinity"),
        ("{{ input.big / 1e-300 }}", "the result of / is Infinity"),
        ("{{ input.big // 0.5 }}", "the result of // is Infinity"),
        ("{{ [input.big, input.big] | sum }}", "the sum is Infinity"),
        ("{{ input.big * 10 > 1 }}", "the result of * is Infinity"),  # not even in a comparison
        ("{{ 2.0 ** 2000 }}", "too large for a number"),
        ("{{ 1e999 }}", "JSON numbers stop at about 1.8e308"),
        ("{{ '{\"a\": NaN}' | fromjson }}", "NaN is not JSON"),
        ("{{ '[-1e999]' | fromjson }}", "beyond what JSON numbers hold"),
    ],
)
def test_arithmetic_never_yields_infinity_or_nan(templates: Templates, source: str, says: str) -> None:
    scope = {"input": {"big": 1e308}, "steps": {}, "run": {}}
    assert says in error_of(templates, source, scope).message


def test_finite_arithmetic_still_works(templates: Templates) -> None:
    scope = {"input": {"amount": "12.5", "n": 7}, "steps": {}, "run": {}}
    assert templates.render("{{ input.amount | float * 2 }}", scope) == 25.0
    assert templates.render("{{ input.n // 2 }} {{ input.n / 2 }} {{ input.n - 9 }}", scope) == "3 3.5 -2"
    assert templates.render("{{ 'abc' | float }}", scope) == 0.0  # not a number at all: float's default, as before
    assert templates.render("{{ 1e308 + 1 }}", scope) == 1e308


def test_a_literal_beyond_the_float_range_is_refused_when_the_config_is_checked(templates: Templates) -> None:
    problems = templates.check({"value": "{{ 1e400 }}"}, path=("config",))
    assert problems and "1.8e308" in problems[0][1]


# --- the SSTI corpus ---------------------------------------------------------------------------------------------


def test_corpus_is_substantial() -> None:
    assert len(CORPUS) >= 35
    assert all({"payload", "why"} <= set(entry) <= {"payload", "why", "expect"} and entry["why"] for entry in CORPUS)
    assert {entry.get("expect", "either") for entry in CORPUS} == {"either", "TemplateError"}


def _positions(payload: str) -> list[tuple[str, Any]]:
    return [
        ("whole", payload),
        ("embedded", f"prefix {payload} suffix"),
        ("nested", {"node": {"config": [payload]}}),
    ]


@pytest.mark.parametrize("entry", CORPUS, ids=[entry["payload"][:60] for entry in CORPUS])
def test_ssti_payloads_cannot_escape(entry: dict[str, str]) -> None:
    templates = Templates()
    scope = make_scope()
    pristine = copy.deepcopy(scope)
    scope_text = json.dumps(pristine)
    for position, value in _positions(entry["payload"]):
        started = time.perf_counter()
        try:
            result = templates.render(value, scope)
        except TemplateError as exc:
            text, failed = str(exc), True
        else:
            text, failed = json.dumps(result, ensure_ascii=False, default=lambda o: f"<unserialisable {o!r}>"), False
            assert len(text) <= templates.max_output_chars + 100, position
        elapsed = time.perf_counter() - started
        assert elapsed < HANG_S, (position, elapsed)
        if entry.get("expect") == "TemplateError":  # e.g. a non-finite number: it must never become a result
            assert failed, (position, text[:300])
        for marker in LEAKS:
            # an error message may quote the (editor-written) template; a result may only echo scope data
            allowed = marker in scope_text or (failed and marker in entry["payload"])
            assert allowed or marker not in text, (position, marker, text[:300])
        assert "<unserialisable" not in text, (position, text[:300])
        assert scope == pristine, position
