"""The Store: every query, every transaction, and the schema's migrations.

SQLite (WAL) by default; the same code runs on PostgreSQL, where several workers may share
the feeds (claims use ``FOR UPDATE SKIP LOCKED``). Everything in and out is a record of
monitor.model; the tables never leave this package.

The Store is one class made of per-domain parts over one shared base, which owns the engine
and hands out transactions:

- base.py: the engine, ``_session()``, the meta table (schema version, heartbeat);
- schema.py: the migrations and ``migrate``;
- feeds.py: configured feeds, claims, polled states, health notices;
- items.py: new entries, the write of a poll's items and hits, reading and pruning them;
- articles.py: items awaiting their article's text, each attempt's outcome and hits;
- deliveries.py: reserving hits for a message, marking it sent or failed;
- search.py: the full-text index of folded item text; archive.py: the archive page's reads;
- convert.py: rows to records and back; tables.py: the tables.
"""

from __future__ import annotations

from monitor.errors import StoreError
from monitor.store.archive import ArchiveMixin
from monitor.store.articles import ArticlesMixin
from monitor.store.base import StoreBase, read_heartbeat
from monitor.store.deliveries import RESERVATION_LEASE, DeliveriesMixin, delivery_backoff
from monitor.store.feeds import CLAIM_LEASE, FeedsMixin
from monitor.store.items import ITEM_TABLE, ItemsMixin
from monitor.store.schema import MIGRATIONS, SCHEMA_VERSION_KEY, SchemaMixin
from monitor.store.search import SearchMixin


class Store(
    FeedsMixin,
    ItemsMixin,
    ArticlesMixin,
    DeliveriesMixin,
    ArchiveMixin,
    SearchMixin,
    SchemaMixin,
    StoreBase,
):
    """All reads and writes of the monitor's state."""


__all__ = [
    "CLAIM_LEASE",
    "ITEM_TABLE",
    "MIGRATIONS",
    "RESERVATION_LEASE",
    "SCHEMA_VERSION_KEY",
    "Store",
    "StoreError",
    "delivery_backoff",
    "read_heartbeat",
]
