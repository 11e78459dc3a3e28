"""The rule language: YAML rule files -> compiled Matcher -> hits with spans.

``load_rules`` reads and checks rule files, ``compile_rules`` builds the matcher, ``fold``
is the one text-folding function. See the "Writing a rule" part of the README.
"""

from monitor.rules.engine import RuleMatcher, compile_rules
from monitor.rules.load import load_rules
from monitor.rules.query import QueryError, parse_query
from monitor.rules.text import fold, tokens

__all__ = [
    "QueryError",
    "RuleMatcher",
    "compile_rules",
    "fold",
    "load_rules",
    "parse_query",
    "tokens",
]
