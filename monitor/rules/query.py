"""Query text -> query tree, in Lucene / Elasticsearch query-string syntax.

luqum parses the syntax; this module turns its tree into the small tree the engine
evaluates and checks what the syntax alone allows but a rule cannot mean (unknown fields,
fuzzy terms, boosts, ranges outside ``amount:``, terms without a letter or digit).

::

    Term(tokens, field, prefix)     OTS   title:OTS   diaspor*   Türkiye'nin (two words)
    Phrase(tokens, field, slop)     "joint action plan"   "trade target"~5
    EntityRef(name)                 entity:omuraliev
    Amount(low, high)               amount:[50e9 TO *]   amount:>=1bn
    And / Or / Not                  AND, OR, NOT, -x, +x; side by side means AND

A term or phrase in a text field carries the form keys of its words (see
``monitor.rules.inflect``), so Тюркский finds Тюркского; a leading ``=`` asks for the
exact form instead: ``=совет``, ``title:=совет``, ``"=Тюркский совет"``.

Every node keeps ``pos``: its character offset in the query text, for error messages.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from functools import lru_cache
from typing import Any

from luqum import tree as lq
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import parser as _luqum_parser

from monitor.model import FIELDS, TEXT_FIELDS
from monitor.rules.inflect import EMPTY, phrase_forms
from monitor.rules.nodes import (
    Amount,
    And,
    EntityRef,
    Node,
    Not,
    Or,
    Phrase,
    QueryError,
    Term,
)

__all__ = [
    "Amount",
    "And",
    "EntityRef",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "QueryError",
    "Term",
    "canonical",
    "entity_names",
    "operator_words",
    "parse_amount_bound",
    "parse_query",
    "without_forms",
]

SPECIAL_FIELDS = ("entity", "amount")
#: How deep a query may nest (parentheses, NOT, fields, operators): far more than any rule
#: needs, and few enough that every walk over the tree stays clear of the recursion limit.
MAX_DEPTH = 100
_OPERATORS = ("and", "or", "not")
_TOO_DEEP = (
    f"the query is nested too deeply (more than {MAX_DEPTH} levels of parentheses, "
    "operators and fields)"
)


# --------------------------------------------------------------------------- amounts

_SCALE_WORDS = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "mln": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "bln": 1e9,
    "billion": 1e9,
    "t": 1e12,
    "tn": 1e12,
    "trn": 1e12,
    "trillion": 1e12,
}
_BOUND_RE = re.compile(r"^\s*\$?\s*([0-9][0-9_,]*(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([a-z]*)\s*$", re.I)


def parse_amount_bound(text: str) -> float | None:
    """A range bound of ``amount:``: ``50e9``, ``50000000000``, ``50bn``, ``$1.5 billion``."""
    match = _BOUND_RE.match(text)
    if not match:
        return None
    number, scale = match.groups()
    try:
        value = float(number.replace("_", "").replace(",", ""))
    except ValueError:
        return None
    if scale:
        factor = _SCALE_WORDS.get(scale.lower())
        if factor is None:
            return None
        value *= factor
    return value


# --------------------------------------------------------------------------- parsing

_LOCK = threading.Lock()  # PLY parsers are not thread-safe
_POSITION = re.compile(r"at position (\d+)")
_ESCAPE = re.compile(r"\\(.)")


def parse_query(text: str) -> Node:
    """Parse and check one query. Raises QueryError listing every problem found.

    Results are cached by query text: the loader parses every query to check it, and
    compiling the same rules afterwards reuses the trees.
    """
    return _parse_cached(text)


@lru_cache(maxsize=100_000)
def _parse_cached(text: str) -> Node:
    if not text or not text.strip():
        raise QueryError([(0, "empty query")])
    try:
        with _LOCK:
            tree = _luqum_parser.parse(text)
    except RecursionError as e:  # not seen, but the parser is not ours
        raise QueryError([(0, _TOO_DEEP)]) from e
    except (ParseError, IllegalCharacterError) as e:
        message = str(e)
        found = _POSITION.search(message)
        pos = int(found.group(1)) if found else len(text.rstrip())
        if isinstance(e, IllegalCharacterError):
            detail = "unclosed quote" if text[pos : pos + 1] == '"' else "unexpected character"
        elif found is None:
            detail = "query ends too early (an operator without a term, or an unclosed '(')"
        else:
            token = message.split("unexpected", 1)[-1].split(" at position")[0].strip(" '")
            detail = f"unexpected {token!r}"
        raise QueryError([(pos, f"syntax error: {detail}")]) from e
    too_deep = _too_deep(tree)
    if too_deep is not None:
        raise QueryError([(too_deep, _TOO_DEEP)])
    problems: list[tuple[int, str]] = []
    node = _Converter(text, problems).convert(tree, None)
    if node is None and not problems:
        problems.append((0, "empty query"))
    if problems or node is None:
        raise QueryError(problems)
    return node


def _too_deep(tree: Any) -> int | None:
    """The position of the first part of a luqum tree nested deeper than ``MAX_DEPTH``, or
    None. Walks with a stack: the tree may be thousands of levels deep."""
    stack = [(tree, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return item.pos or 0
        stack.extend((child, depth + 1) for child in item.children)
    return None


class _Converter:
    def __init__(self, text: str, problems: list[tuple[int, str]]) -> None:
        self.text = text
        self.problems = problems

    def error(self, item: Any, message: str) -> None:
        self.problems.append((item.pos or 0, message))

    def source(self, item: Any) -> str:
        if item.pos is None or item.size is None:
            return str(item).strip()
        return self.text[item.pos : item.pos + item.size].strip()

    def convert(self, item: Any, fld: str | None) -> Node | None:
        kind = type(item)
        if kind is lq.Word:  # the commonest node first
            return self.word(item, fld)
        if kind is lq.AndOperation or kind is lq.UnknownOperation:
            return self.bool_op(And, item, fld)
        if kind is lq.OrOperation:
            return self.bool_op(Or, item, fld)
        pos = item.pos or 0
        if isinstance(item, lq.AndOperation | lq.UnknownOperation):
            return self.bool_op(And, item, fld)
        if isinstance(item, lq.OrOperation):
            return self.bool_op(Or, item, fld)
        if isinstance(item, lq.Not | lq.Prohibit):
            child = self.convert(item.a, fld)
            return Not(child, pos=pos) if child is not None else None
        if isinstance(item, lq.Plus):
            return self.convert(item.a, fld)
        if isinstance(item, lq.Group | lq.FieldGroup):
            return self.convert(item.expr, fld)
        if isinstance(item, lq.SearchField):
            return self.search_field(item, fld)
        if isinstance(item, lq.Proximity):
            return self.proximity(item, fld)
        if isinstance(item, lq.Phrase):
            return self.phrase(item, fld, 0)
        if isinstance(item, lq.Word):
            return self.word(item, fld)
        if isinstance(item, lq.Range | lq.From | lq.To):
            if fld != "amount":
                self.error(item, "a range only works with amount:, e.g. amount:[50e9 TO *]")
                return None
            return self.amount(item)
        if isinstance(item, lq.Fuzzy):
            self.error(
                item,
                "fuzzy terms (word~N) are not supported; for words near each "
                'other write "word other"~N',
            )
            return None
        if isinstance(item, lq.Boost):
            self.error(item, "boosts (^N) have no meaning in a rule; remove them")
            return None
        if isinstance(item, lq.Regex):
            self.error(
                item, "regular expressions are not supported; use words, phrases and prefix*"
            )
            return None
        self.error(item, f"unsupported syntax: {self.source(item)!r}")
        return None

    def bool_op(self, kind: type[And] | type[Or], item: Any, fld: str | None) -> Node | None:
        children: list[Node] = []
        for operand in item.operands:
            child = self.convert(operand, fld)
            if child is None:
                continue
            if isinstance(child, kind):
                children.extend(child.children)  # flatten a AND (b AND c)
            else:
                children.append(child)
        if not children:
            return None
        if len(children) == 1:
            return children[0]
        return kind(tuple(children), pos=item.pos or 0)

    def search_field(self, item: Any, fld: str | None) -> Node | None:
        name = item.name
        if fld is not None:
            self.error(item, f"field {name}: inside field {fld}: is not allowed")
            return None
        if name not in FIELDS and name not in SPECIAL_FIELDS:
            known = ", ".join((*FIELDS, *SPECIAL_FIELDS))
            self.error(item, f"unknown field {name!r} (known: {known})")
            return None
        return self.convert(item.expr, name)

    def word(self, item: Any, fld: str | None) -> Node | None:
        raw = item.value
        pos = item.pos or 0
        text = f"{fld}:{raw}" if fld else raw
        if fld == "amount":
            self.error(item, "amount: needs a range, e.g. amount:[50e9 TO *] or amount:>=1e9")
            return None
        if fld == "entity":
            return EntityRef(item.unescaped_value, text=text, pos=pos)
        exact = raw.startswith("=")
        if exact:
            raw = raw[1:]
        prefix = False
        wildcards = (
            [span for span, _ in item.iter_wildcards()] if ("*" in raw or "?" in raw) else []
        )
        if wildcards:
            if item.value == "*":
                self.error(item, "a lone * would match every item")
                return None
            last = wildcards[-1]
            if len(wildcards) > 1 or item.value[last[0] : last[1]] != "*" or last[1] != len(raw):
                self.error(
                    item, "only a trailing * is supported (diaspor*); ? and inner wildcards are not"
                )
                return None
            prefix = True
            raw = raw[:-1]
        words, forms = _forms(_unescape(raw), fld, exact, prefix)
        if not words:
            self.error(item, f"{item.value!r} has no letter or digit, so it can never match")
            return None
        if len(words) > 1:  # Türkiye'nin, al-Farabi: the words in order, as Lucene does
            return Phrase(words, fld, 0, prefix, text=text, pos=pos, forms=forms)
        return Term(words[0], fld, prefix, text=text, pos=pos, forms=forms[0] if forms else EMPTY)

    def phrase(self, item: Any, fld: str | None, slop: int) -> Node | None:
        inner = _unescape(item.value[1:-1])
        pos = item.pos or 0
        if fld in SPECIAL_FIELDS:
            if fld == "entity":
                return EntityRef(inner, text=f"entity:{item.value}", pos=pos)
            self.error(item, "amount: needs a range, e.g. amount:[50e9 TO *]")
            return None
        exact = inner.startswith("=")
        if exact:
            inner = inner[1:]
        prefix = inner.rstrip().endswith("*")
        words, forms = _forms(inner.rstrip().rstrip("*"), fld, exact, prefix)
        text = f"{fld}:{item.value}" if fld else item.value
        if slop:
            text += f"~{slop}"
        if not words:
            self.error(item, f"phrase {item.value} has no letter or digit, so it can never match")
            return None
        if len(words) == 1:
            return Term(
                words[0], fld, prefix, text=text, pos=pos, forms=forms[0] if forms else EMPTY
            )
        return Phrase(words, fld, slop, prefix, text=text, pos=pos, forms=forms)

    def proximity(self, item: Any, fld: str | None) -> Node | None:
        degree = item.degree
        try:
            slop = int(float(degree)) if degree is not None else -1
        except ValueError:
            slop = -1
        if slop < 0 or (degree is not None and float(degree) != slop):
            self.error(item, 'proximity needs a whole number of words, e.g. "a b"~5')
            return None
        return self.phrase(item.term, fld, slop)

    def amount(self, item: Any) -> Node | None:
        pos = item.pos or 0
        text = f"amount:{self.source(item)}"
        if isinstance(item, lq.Range):
            low_raw, high_raw = str(item.low).strip(), str(item.high).strip()
            include_low, include_high = item.include_low, item.include_high
        elif isinstance(item, lq.From):
            low_raw, high_raw = str(item.a).strip(), "*"
            include_low, include_high = item.include, True
        else:
            low_raw, high_raw = "*", str(item.a).strip()
            include_low, include_high = True, item.include
        bounds: list[float | None] = []
        for raw in (low_raw, high_raw):
            if raw == "*":
                bounds.append(None)
                continue
            value = parse_amount_bound(raw)
            if value is None:
                self.error(
                    item, f"amount bound {raw!r} is not a number (write 50e9, 50000000000 or 50bn)"
                )
                return None
            bounds.append(value)
        low, high = bounds
        if low is None and high is None:
            self.error(item, "amount:[* TO *] sets no bound; give at least one")
            return None
        if (
            low is not None
            and high is not None
            and (low > high or (low == high and not (include_low and include_high)))
        ):
            self.error(item, f"amount range {text[7:]} is empty, so it can never match")
            return None
        return Amount(low, high, include_low, include_high, text=text, pos=pos)


def _unescape(value: str) -> str:
    return _ESCAPE.sub(r"\1", value) if "\\" in value else value


def _forms(
    text: str, fld: str | None, exact: bool, prefix: bool
) -> tuple[tuple[str, ...], tuple[frozenset[str], ...]]:
    """The folded words of a term and their form keys; () when none has any. Only words
    of the text fields are inflected; a last prefix is not."""
    inflect = not exact and (fld is None or fld in TEXT_FIELDS)
    words, forms = phrase_forms(text, inflect=inflect)
    if prefix and forms:
        forms = (*forms[:-1], EMPTY)
    return words, forms if any(forms) else ()


def _forms_text(forms: frozenset[str]) -> str:
    return "{" + " ".join(sorted(forms)) + "}" if forms else ""


def without_forms(node: Node) -> Node:
    """The query with every term matched as written (the matcher's switch for forms)."""
    if isinstance(node, Term):
        return replace(node, forms=EMPTY) if node.forms else node
    if isinstance(node, Phrase):
        return replace(node, forms=()) if node.forms else node
    if isinstance(node, Not):
        return replace(node, child=without_forms(node.child))
    if isinstance(node, And | Or):
        return replace(node, children=tuple(without_forms(c) for c in node.children))
    return node


def canonical(node: Node) -> str:
    """A stable text of what a query means (positions and spellings left out)."""
    if isinstance(node, Term):
        star = "*" if node.prefix else ""
        return f"{node.field or ''}:{node.token}{star}{_forms_text(node.forms)}"
    if isinstance(node, Phrase):
        star = "*" if node.prefix else ""
        forms = "".join(_forms_text(f) or "{}" for f in node.forms)
        return f'{node.field or ""}:"{" ".join(node.tokens)}{star}"~{node.slop}{forms}'
    if isinstance(node, EntityRef):
        return f"entity:{node.name}"
    if isinstance(node, Amount):
        low = "[" if node.include_low else "{"
        high = "]" if node.include_high else "}"
        return f"amount:{low}{node.low} TO {node.high}{high}"
    if isinstance(node, Not):
        return f"NOT({canonical(node.child)})"
    op = "AND" if isinstance(node, And) else "OR"
    return f"{op}(" + ",".join(sorted(canonical(c) for c in node.children)) + ")"


def entity_names(node: Node) -> list[EntityRef]:
    """Every entity reference in a query, in order."""
    if isinstance(node, EntityRef):
        return [node]
    if isinstance(node, Not):
        return entity_names(node.child)
    if isinstance(node, And | Or):
        return [ref for child in node.children for ref in entity_names(child)]
    return []


def operator_words(node: Node) -> list[Term]:
    """Terms spelled like an operator in lower case (``or``, ``and``, ``not``): Lucene reads
    them as words that must be present, which is rarely what the writer meant."""
    if isinstance(node, Term):
        plain = node.field is None and node.text.lower() in _OPERATORS
        return [node] if plain and node.text != node.text.upper() else []
    if isinstance(node, Not):
        return operator_words(node.child)
    if isinstance(node, And | Or):
        return [term for child in node.children for term in operator_words(child)]
    return []


def contradiction(node: Node) -> tuple[int, str] | None:
    """A part of the query that can never match (``x AND NOT x``), with its position."""
    if isinstance(node, Not):
        return contradiction(node.child)
    if isinstance(node, Or):
        for child in node.children:
            found = contradiction(child)
            if found:
                return found
        return None
    if isinstance(node, And):
        required = {canonical(c) for c in node.children if not isinstance(c, Not)}
        for child in node.children:
            if isinstance(child, Not) and canonical(child.child) in required:
                return (
                    child.pos,
                    "this part requires a term and its NOT at once, so it can never match",
                )
            found = contradiction(child)
            if found:
                return found
    return None
