"""Channels beyond mail and files: an Atom feed, JSON files, webhooks and Apprise URLs.

``spec`` reads a ``deliver:`` entry (a word, a URL or a mapping) into a ``Channel``;
``document`` builds the JSON document every structured channel sends; ``atom``,
``jsonfile``, ``webhook`` and ``push`` are the senders (each a ``Notifier``); ``redact``
keeps the secrets of channel URLs out of every log line.
"""
