"""rules/*.yaml -> a checked RuleSet. Every problem names file:line:column, all at once.

A rule file::

    entities:                      # optional; entities are shared by every rule file
      - id: omuraliev
        name: Kubanychbek Omuraliev
        aliases: [Omuraliev, Ömüraliev, Кубанычбек Омуралиев]
        not: ["some namesake phrase"]
    rules:
      - id: ots-officials          # unique across all files; hits refer to it
        name: OTS leadership
        query: entity:omuraliev AND diaspora
        tags: [ots]
        priority: high             # normal (digests) | high (also alerts)
        feeds: [trend]             # only these feeds; empty means all
        enabled: true
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor import yamlfile
from monitor.collector import paused_gc
from monitor.errors import RuleError
from monitor.model import Entity, Rule, RuleSet
from monitor.rules.entities import CompiledEntity, compile_entity
from monitor.rules.presearch import rule_keys
from monitor.rules.query import (
    Node,
    QueryError,
    canonical,
    contradiction,
    entity_names,
    operator_words,
    parse_query,
)
from monitor.rules.text import analyze

__all__ = ["check_rules", "expand_paths", "load_rules"]

RULE_KEYS = ("id", "name", "query", "tags", "priority", "feeds", "enabled")
ENTITY_KEYS = ("id", "name", "aliases", "not")
TOP_KEYS = ("rules", "entities")
PRIORITIES = ("normal", "high")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

_STR = yamlfile.STR_TAG
_BOOL = yamlfile.BOOL_TAG
_NULL = yamlfile.NULL_TAG


@dataclass
class _Source:
    path: str
    text: str

    def where(self, node: yamlfile.Node | None, offset: int | None = None) -> str:
        """file:line:col of a node, or of character ``offset`` inside a scalar's value."""
        if node is None:
            return f"{self.path}:1:1"
        index = node.start_mark.index
        if offset is not None and isinstance(node, yamlfile.ScalarNode):
            segment = self.text[node.start_mark.index : node.end_mark.index]
            index += _source_offset(segment, node.value, offset, node.style)
        line = self.text.count("\n", 0, index) + 1
        col = index - (self.text.rfind("\n", 0, index) + 1) + 1
        return f"{self.path}:{line}:{col}"


def _source_offset(segment: str, value: str, pos: int, style: str | None) -> int:
    """Where the value's ``pos``-th character sits in the scalar's source text.

    Walks value and source side by side, skipping what YAML adds in the source (quotes,
    block indicators, indentation, folded line breaks).
    """
    if not value:
        return 0
    j = 0
    if style in ("|", ">"):
        j = segment.find("\n") + 1 if "\n" in segment else 0
    elif style in ("'", '"'):
        j = 1
    for ch in value[:pos]:
        while j < len(segment) and not _same(segment[j], ch):
            j += 1
        j += 1
    if pos < len(value):
        while j < len(segment) and not _same(segment[j], value[pos]):
            j += 1
    return min(j, len(segment))


def _same(source: str, value: str) -> bool:
    return source == value or (source.isspace() and value.isspace())


@dataclass
class _RawRule:
    src: _Source
    node: yamlfile.MappingNode
    values: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, yamlfile.Node] = field(default_factory=dict)


@dataclass
class _Loader:
    problems: list[str] = field(default_factory=list)
    rules: list[_RawRule] = field(default_factory=list)
    entities: dict[str, Entity] = field(default_factory=dict)
    entity_where: dict[str, str] = field(default_factory=dict)
    #: What is legal but probably not meant, file:line:column each.
    warnings: list[str] = field(default_factory=list)
    #: The feed ids rules may name (None: any, unchecked).
    feeds: Collection[str] | None = None

    def problem(
        self, src: _Source, node: yamlfile.Node | None, message: str, offset: int | None = None
    ) -> None:
        self.problems.append(f"{src.where(node, offset)}: {message}")

    # -- files

    def load_file(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError as e:
            self.problems.append(f"{path}:1:1: cannot read: {e}")
            return
        try:
            text = yamlfile.decode(data, str(path))
        except yamlfile.YamlError as e:
            self.problems.append(f"{e.path}:{e.line}:{e.column}: {e.problem}")
            return
        src = _Source(str(path), text)
        try:
            root = yamlfile.compose(text, str(path))
        except yamlfile.YamlError as e:
            self.problems.append(f"{e.path}:{e.line}:{e.column}: YAML syntax error: {e.problem}")
            return
        if root is None:
            self.problem(src, None, "empty rule file (expected 'rules:' and 'entities:')")
            return
        top = self.mapping(src, root, TOP_KEYS, "rule file")
        if top is None:
            return
        if "rules" not in top and "entities" not in top:
            self.problem(src, root, "a rule file needs 'rules:' (and may have 'entities:')")
        if "entities" in top:
            for item in self.sequence(src, top["entities"], "entities"):
                self.load_entity(src, item)
        if "rules" in top:
            for item in self.sequence(src, top["rules"], "rules"):
                self.load_rule(src, item)

    # -- YAML shapes

    def mapping(
        self, src: _Source, node: yamlfile.Node, allowed: Sequence[str], what: str
    ) -> dict[str, yamlfile.Node] | None:
        if not isinstance(node, yamlfile.MappingNode):
            self.problem(src, node, f"{what} must be a mapping of keys to values")
            return None
        out: dict[str, yamlfile.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yamlfile.ScalarNode) else None
            if key is None:
                self.problem(src, key_node, f"{what}: keys must be plain names")
                continue
            if key not in allowed:
                self.problem(
                    src, key_node, f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)})"
                )
                continue
            if key in out:
                self.problem(src, key_node, f"duplicate key {key!r} in {what}")
                continue
            out[key] = value_node
        return out

    def sequence(self, src: _Source, node: yamlfile.Node, what: str) -> list[yamlfile.Node]:
        if isinstance(node, yamlfile.ScalarNode) and node.tag == _NULL:
            return []
        if not isinstance(node, yamlfile.SequenceNode):
            self.problem(src, node, f"'{what}' must be a list")
            return []
        return list(node.value)

    def string(self, src: _Source, node: yamlfile.Node, what: str) -> str | None:
        if not isinstance(node, yamlfile.ScalarNode) or node.tag in (_NULL, _BOOL):
            self.problem(src, node, f"{what} must be text")
            return None
        return str(node.value)

    def strings(self, src: _Source, node: yamlfile.Node, what: str) -> tuple[str, ...]:
        if isinstance(node, yamlfile.ScalarNode) and node.tag == _NULL:
            return ()
        if not isinstance(node, yamlfile.SequenceNode):
            self.problem(src, node, f"{what} must be a list of text, e.g. [a, b]")
            return ()
        out = []
        for item in node.value:
            value = self.string(src, item, f"each of {what}")
            if value is not None:
                out.append(value)
        return tuple(out)

    def ident(self, src: _Source, node: yamlfile.Node, what: str) -> str | None:
        value = self.string(src, node, what)
        if value is not None and not _ID.match(value):
            self.problem(
                src,
                node,
                f"{what} {value!r} must be letters, digits, '-', '_' or "
                "'.', starting with a letter or digit",
            )
            return None
        return value

    # -- entities and rules

    def load_entity(self, src: _Source, node: yamlfile.Node) -> None:
        keys = self.mapping(src, node, ENTITY_KEYS, "entity")
        if keys is None:
            return
        if "id" not in keys:
            self.problem(src, node, "entity has no 'id'")
            return
        entity_id = self.ident(src, keys["id"], "entity id")
        if entity_id is None:
            return
        name = self.string(src, keys["name"], "entity name") if "name" in keys else entity_id
        aliases = self.strings(src, keys["aliases"], "aliases") if "aliases" in keys else ()
        vetoes = self.strings(src, keys["not"], "not") if "not" in keys else ()
        for key in ("aliases", "not"):
            seq = keys.get(key)
            items = seq.value if isinstance(seq, yamlfile.SequenceNode) else []
            for item in items:
                if isinstance(item, yamlfile.ScalarNode):
                    self.check_phrase(src, item, f"{key} entry")
        if "name" in keys and isinstance(keys["name"], yamlfile.ScalarNode) and name:
            self.check_phrase(src, keys["name"], "entity name")
        where = src.where(node)
        if entity_id in self.entities:
            self.problem(
                src,
                keys["id"],
                f"duplicate entity id {entity_id!r} (first defined "
                f"at {self.entity_where[entity_id]})",
            )
            return
        self.entity_where[entity_id] = where
        self.entities[entity_id] = Entity(
            entity_id,
            name or entity_id,
            aliases,
            vetoes,
            file=src.path,
            line=node.start_mark.line + 1,
        )

    def check_phrase(self, src: _Source, item: yamlfile.ScalarNode, what: str) -> None:
        """An alias, veto or name must fold to two letters or more: one that folds to
        nothing can never match, and a single letter would match almost every item."""
        body = item.value.strip()
        body = body[1:] if body.startswith("=") else body
        folded = "".join(analyze(body.rstrip().rstrip("*")))
        if not folded:
            self.problem(
                src, item, f"{what} {item.value!r} has no letter or digit, so it can never match"
            )
        elif len(folded) == 1:
            self.problem(
                src,
                item,
                f"{what} {item.value!r} folds to the single letter {folded!r}, so it would "
                "match almost every item; write the whole name",
            )

    def load_rule(self, src: _Source, node: yamlfile.Node) -> None:
        keys = self.mapping(src, node, RULE_KEYS, "rule")
        if keys is None:
            return
        assert isinstance(node, yamlfile.MappingNode)
        raw = _RawRule(src, node, keys=keys)
        ok = True
        for required in ("id", "query"):
            if required not in keys:
                rid = ""
                if "id" in keys and isinstance(keys["id"], yamlfile.ScalarNode):
                    rid = f" {keys['id'].value!r}"
                self.problem(src, node, f"rule{rid} has no {required!r}")
                ok = False
        if "id" in keys:
            raw.values["id"] = self.ident(src, keys["id"], "rule id")
            ok = ok and raw.values["id"] is not None
        if "query" in keys:
            raw.values["query"] = self.string(src, keys["query"], "query")
            ok = ok and raw.values["query"] is not None
        if "name" in keys:
            raw.values["name"] = self.string(src, keys["name"], "name")
        if "tags" in keys:
            raw.values["tags"] = self.strings(src, keys["tags"], "tags")
        if "feeds" in keys:
            raw.values["feeds"] = self.strings(src, keys["feeds"], "feeds")
            self.check_feeds(src, keys["feeds"], raw.values.get("id"))
        if "priority" in keys:
            value = self.string(src, keys["priority"], "priority")
            if value is not None and value not in PRIORITIES:
                self.problem(
                    src,
                    keys["priority"],
                    f"priority {value!r} must be one of: " + ", ".join(PRIORITIES),
                )
                value = None
            raw.values["priority"] = value or "normal"
        if "enabled" in keys:
            flag = keys["enabled"]
            if not (isinstance(flag, yamlfile.ScalarNode) and flag.tag == _BOOL):
                self.problem(src, flag, "enabled must be true or false")
                raw.values["enabled"] = True
            else:
                raw.values["enabled"] = flag.value.lower() in ("true", "yes", "on", "y")
        if ok:
            self.rules.append(raw)

    def check_feeds(self, src: _Source, node: yamlfile.Node, rule_id: str | None) -> None:
        """A rule's ``feeds:`` must name configured feeds (when they are known)."""
        if self.feeds is None or not isinstance(node, yamlfile.SequenceNode):
            return
        for item in node.value:
            if not isinstance(item, yamlfile.ScalarNode) or item.value in self.feeds:
                continue
            close = difflib.get_close_matches(item.value, list(self.feeds), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            rule = f"rule {rule_id!r}: " if rule_id else ""
            self.problem(src, item, f"{rule}no feed {item.value!r} in the configuration{hint}")

    def build(self) -> RuleSet:
        compiled_entities = {e.id: compile_entity(e) for e in self.entities.values()}
        rules: list[Rule] = []
        seen: dict[str, str] = {}
        for raw in self.rules:
            src, values = raw.src, raw.values
            rule_id: str = values["id"]
            where = src.where(raw.keys["id"])
            if rule_id in seen:
                self.problem(
                    src,
                    raw.keys["id"],
                    f"duplicate rule id {rule_id!r} (first defined at {seen[rule_id]})",
                )
                continue
            seen[rule_id] = where
            node = self.check_query(raw, compiled_entities)
            if node is None:
                continue
            used = sorted({ref.name for ref in entity_names(node)})
            feeds: tuple[str, ...] = values.get("feeds", ())
            rules.append(
                Rule(
                    id=rule_id,
                    name=values.get("name") or rule_id,
                    query=values["query"],
                    tags=values.get("tags", ()),
                    priority=values.get("priority", "normal"),
                    feeds=feeds,
                    enabled=values.get("enabled", True),
                    file=src.path,
                    line=raw.node.start_mark.line + 1,
                    version=rule_version(
                        node,
                        [self.entities[n] for n in used],
                        feeds,
                        [compiled_entities[n] for n in used],
                    ),
                )
            )
        return RuleSet(tuple(rules), tuple(self.entities.values()))

    def check_query(self, raw: _RawRule, entities: dict[str, Any]) -> Node | None:
        src, text = raw.src, raw.values["query"]
        node_yaml = raw.keys["query"]
        rule_id = raw.values["id"]
        try:
            node = parse_query(text)
        except QueryError as e:
            for pos, message in e.problems:
                self.problem(src, node_yaml, f"rule {rule_id!r}: {message}", offset=pos)
            return None
        bad = False
        for ref in entity_names(node):
            if ref.name not in self.entities:
                known = ", ".join(sorted(self.entities)) or "none defined"
                self.problem(
                    src,
                    node_yaml,
                    f"rule {rule_id!r}: unknown entity {ref.name!r} (known: {known})",
                    offset=ref.pos,
                )
                bad = True
        if bad:
            return None
        reason = contradiction(node)
        if reason is not None:
            pos, message = reason
            self.problem(src, node_yaml, f"rule {rule_id!r}: {message}", offset=pos)
            return None
        for word in operator_words(node):
            self.warnings.append(
                f"{src.where(node_yaml, word.pos)}: rule {rule_id!r}: lowercase "
                f"{word.text!r} is searched as a word that must be present; write "
                f"{word.text.upper()} for the operator, or quote the word"
            )
        if rule_keys(node, entities) is None:
            self.problem(
                src,
                node_yaml,
                f"rule {rule_id!r}: the query has no term that must "
                "be present (only NOT, or NOT inside OR), so it would match almost "
                "every item; add a term, e.g. 'diaspora AND NOT sport'",
                offset=0,
            )
            return None
        return node


def rule_version(
    node: Node,
    entities: Sequence[Entity],
    feeds: Sequence[str],
    compiled: Sequence[CompiledEntity] = (),
) -> str:
    """A short hash of what a rule matches: its query's meaning (form keys included), its
    entities (and the form keys of their aliases and vetoes), its feeds."""
    parts = [canonical(node)]
    for entity in entities:
        parts.append(
            f"entity {entity.id}: {sorted((entity.name, *entity.aliases))} "
            f"not {sorted(entity.not_)}"
        )
    for found in compiled:
        forms = sorted(
            f"{p.text}={sorted(set().union(*p.forms))}"
            for p in (*found.aliases, *found.vetoes)
            if p.forms
        )
        if forms:
            parts.append(f"forms {found.id}: {forms}")
    parts.append(f"feeds {sorted(feeds)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def expand_paths(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Files named, and every *.yaml / *.yml in directories named (sorted)."""
    files: list[Path] = []
    problems: list[str] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
            )
            if not found:
                problems.append(f"{path}:1:1: no *.yaml rule files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path}:1:1: no such rule file or directory")
    return files, problems


def with_changed_file(paths: Sequence[Path], changed: Path) -> list[Path]:
    """The configured rule files with one changed file in place of the file of the same
    name (a draft of ``rules/trade.yaml`` kept elsewhere), or added to them when no file
    has its name (a new topic). The other files still provide their rules and entities."""
    files, _ = expand_paths(paths)
    kept = [f for f in files if f.name != changed.name and f.resolve() != changed.resolve()]
    return [*kept, changed]


_WHERE = re.compile(r"^(.*?):(\d+):(\d+): ")


def _problem_key(problem: str, order: dict[str, int]) -> tuple[int, int, int]:
    """Problems sorted by file (in load order), line and column."""
    found = _WHERE.match(problem)
    if not found:
        return (-1, 0, 0)
    path, line, col = found.groups()
    return (order.get(path, -1), int(line), int(col))


def load_rules(paths: Sequence[Path]) -> RuleSet:
    """Load and check every rule file; raise RuleError listing all problems at once."""
    return check_rules(paths)[0]


def check_rules(
    paths: Sequence[Path], *, feeds: Collection[str] | None = None
) -> tuple[RuleSet, list[str]]:
    """``load_rules`` for ``monitor check``: with ``feeds``, a rule naming a feed not among
    them is a problem too. Returns the rule set and the warnings (a lowercase ``or``,
    ``and`` or ``not``, searched as a word), each naming file:line:column."""
    files, problems = expand_paths(paths)
    loader = _Loader(problems=problems, feeds=feeds)
    with paused_gc():
        for path in files:
            loader.load_file(path)
        ruleset = loader.build()
    order = {str(path): i for i, path in enumerate(files)}
    if loader.problems:
        loader.problems.sort(key=lambda problem: _problem_key(problem, order))
        count = len(loader.problems)
        raise RuleError(
            f"{count} problem{'s' if count > 1 else ''} in rule files:\n  "
            + "\n  ".join(loader.problems),
            problems=loader.problems,
        )
    return ruleset, sorted(loader.warnings, key=lambda warning: _problem_key(warning, order))


def rules_signature(paths: Sequence[Path]) -> tuple[tuple[str, float, int], ...]:
    """Changes when a rule file is added, removed or edited (the job reloads its rules)."""
    sig = []
    for path in expand_paths(paths)[0]:
        try:
            stat = path.stat()
        except OSError:
            continue
        sig.append((str(path), stat.st_mtime, stat.st_size))
    return tuple(sig)
