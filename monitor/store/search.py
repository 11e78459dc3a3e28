"""The full-text index of stored items, for the archive page's search box.

The index holds each item's title, summary and content *folded* the way the rules fold
text (monitor.rules.text: case, diacritics, Turkish i, Cyrillic to Latin), as words
separated by spaces, so ``Omuraliev`` finds ``Омуралиев`` as a rule would. SQLite's and
PostgreSQL's own tokenizers cannot fold like that, so the job writes the folded words right
after each poll (``index_items``; ``monitor serve`` catches up when it starts), and the
database removes them with their item (a trigger on SQLite, ``ON DELETE CASCADE`` on
PostgreSQL):

- SQLite: an FTS5 table ``item_fts`` (rowid = item id; columns title, summary, content)
  with the ``ascii`` tokenizer, which splits the folded text exactly at its spaces;
- PostgreSQL: ``item_search`` (item id, a tsvector of the folded words, weighted A, B, C
  for title, summary, content) with a GIN index.

A query is asked as a ``Prefilter`` (monitor.archive): words, phrases and prefixes that
every matching item holds. What the index cannot tell (NOT, amounts, other fields) is left
out, so it finds a superset, which the rules then check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, column, func, literal_column, select, table, text
from sqlmodel import Session, col

from monitor.archive import AllOf, Prefilter, Words
from monitor.rules.text import tokens
from monitor.store.base import StoreBase, log
from monitor.store.tables import ItemRow

#: Items folded and written per transaction.
BATCH = 1000
#: Characters of one field that are indexed (a field longer than this is cut).
MAX_FIELD = 100_000
_COLUMNS = ("title", "summary", "content")
#: The index tables as SQLAlchemy sees them (they are made by DDL, not by models).
_SEARCH = table("item_search", column("item_id"), column("doc"))
_FTS = table("item_fts", column("rowid"))
_WEIGHTS = {"title": "A", "summary": "B", "content": "C"}


def folded(value: str) -> str:
    """A field's text as the index holds it: its folded words, separated by spaces."""
    return " ".join(tokens(value[:MAX_FIELD]))


# ---------------------------------------------------------------------- queries


def fts5_query(node: Prefilter) -> str:
    """The FTS5 MATCH expression of a prefilter."""
    if isinstance(node, Words):
        columns = " ".join(node.fields or _COLUMNS)
        star = "*" if node.prefix else ""
        if node.phrase:
            body = '"' + " ".join(node.words) + '"' + star
        else:
            quoted = [f'"{w}"' for w in node.words]
            quoted[-1] += star
            body = "(" + " AND ".join(quoted) + ")"
        return "{" + columns + "} : " + body
    joiner = " AND " if isinstance(node, AllOf) else " OR "
    return "(" + joiner.join(fts5_query(part) for part in node.parts) + ")"


def tsquery(node: Prefilter) -> str:
    """The to_tsquery('simple', ...) text of a prefilter."""
    if isinstance(node, Words):
        weights = "".join(_WEIGHTS[f] for f in node.fields if f in _WEIGHTS)
        lexemes = []
        for i, word in enumerate(node.words):
            star = "*" if node.prefix and i == len(node.words) - 1 else ""
            lexemes.append(f"'{word}'" + (f":{star}{weights}" if star or weights else ""))
        return "(" + (" <-> " if node.phrase else " & ").join(lexemes) + ")"
    joiner = " & " if isinstance(node, AllOf) else " | "
    return "(" + joiner.join(tsquery(part) for part in node.parts) + ")"


def matching_ids(prefilter: Prefilter, *, postgres: bool) -> ColumnElement[bool]:
    """A condition on item.id: the items the index finds for the prefilter."""
    item_id = col(ItemRow.id)
    found: Any
    if postgres:
        found = (
            select(literal_column("item_id"))
            .select_from(text("item_search"))
            .where(literal_column("doc").op("@@")(func.to_tsquery("simple", tsquery(prefilter))))
        )
    else:
        found = (
            select(literal_column("rowid"))
            .select_from(text("item_fts"))
            .where(literal_column("item_fts").op("MATCH")(fts5_query(prefilter)))
        )
    return item_id.in_(found)


# ---------------------------------------------------------------------- writing the index


class SearchMixin(StoreBase):
    def index_items(self, *, limit: int | None = None) -> int:
        """Fold and index the items not indexed yet (all of them, or ``limit`` at most);
        returns how many were indexed."""
        done = 0
        while limit is None or done < limit:
            size = BATCH if limit is None else min(BATCH, limit - done)
            with self._session() as s:
                rows = _unindexed(s, size, postgres=not self.is_sqlite)
                if not rows:
                    break
                _write(s, rows, postgres=not self.is_sqlite)
            done += len(rows)
            if len(rows) < size:
                break
        if done:
            log.debug("search index: %d items indexed", done)
        return done


def _unindexed(s: Session, size: int, *, postgres: bool) -> Sequence[Any]:
    fields = (col(ItemRow.id), col(ItemRow.title), col(ItemRow.summary), col(ItemRow.content))
    if postgres:
        # Ids are not committed in order when several workers write: look for every gap.
        query = (
            select(*fields)
            .outerjoin(_SEARCH, _SEARCH.c.item_id == col(ItemRow.id))
            .where(_SEARCH.c.item_id.is_(None))
        )
    else:
        # One writer at a time: items are committed in id order, so the index ends at a
        # watermark, its highest rowid.
        last = s.execute(text("SELECT max(rowid) FROM item_fts")).scalar_one_or_none()
        query = select(*fields).where(col(ItemRow.id) > (last or 0))
    return s.execute(query.order_by(col(ItemRow.id)).limit(size)).all()


def _write(s: Session, rows: Sequence[Any], *, postgres: bool) -> None:
    params = [
        {
            "id": r.id,
            "title": folded(r.title),
            "summary": folded(r.summary),
            "content": folded(r.content),
        }
        for r in rows
    ]
    if postgres:
        statement = (
            "INSERT INTO item_search (item_id, doc) VALUES (:id, "
            "setweight(to_tsvector('simple', :title), 'A') || "
            "setweight(to_tsvector('simple', :summary), 'B') || "
            "setweight(to_tsvector('simple', :content), 'C')) ON CONFLICT DO NOTHING"
        )
    else:
        statement = (
            "INSERT INTO item_fts (rowid, title, summary, content) "
            "VALUES (:id, :title, :summary, :content)"
        )
    s.execute(text(statement), params)
