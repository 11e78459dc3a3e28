"""A small newsroom for the story tests: three outlets (and a second feed of one of them,
and a Russian-language agency) reporting the same events in their own words, and two hard
negatives (a second, different OTS meeting; Türkiye's trade with another country).

Items are plain dicts; ``rss`` makes a feed of them, ``entry`` an Entry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

from monitor.model import Entry

OUTLETS = {
    "wire": "Turan Wire",
    "wire-world": "Turan Wire: World",
    "daily": "Bosphorus Daily",
    "report": "Caspian Report",
    "kabar": "Kabar (Russian)",
}


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 12, day, hour, minute, tzinfo=UTC)


# Each story: the event, and its copies as the outlets wrote them.
SUMMIT = [
    {
        "feed": "wire",
        "guid": "wire-2025-12-15-summit",
        "link": "https://wire.example.com/politics/turkic-leaders-gabala-summit",
        "title": "Turkic leaders gather in Gabala for OTS summit",
        "summary": (
            "Heads of state of the Organization of Turkic States met in Gabala, Azerbaijan, "
            "on 15 December for the organization's 12th summit, hosted by President Ilham "
            "Aliyev. President Recep Tayyip Erdogan, Kazakhstan's Kassym-Jomart Tokayev, "
            "Uzbekistan's Shavkat Mirziyoyev and Kyrgyzstan's Sadyr Japarov discussed the "
            "Turkic World Vision 2040, a common transport corridor and energy links across "
            "the Caspian."
        ),
        "published": _at(15, 9, 10),
    },
    {
        "feed": "daily",
        "guid": "https://daily.example.org/news/2025/12/15/erdogan-gabala",
        "link": "https://daily.example.org/news/2025/12/15/erdogan-gabala?utm_source=rss",
        "title": "Erdogan in Gabala: Turkic states must act together",
        "summary": (
            "Speaking at the 12th summit of the Organization of Turkic States in Gabala on "
            "Monday, 15 December, President Erdogan urged member states to deepen cooperation "
            "under the Turkic World Vision 2040. Host Ilham Aliyev, Kassym-Jomart Tokayev, "
            "Shavkat Mirziyoyev and Sadyr Japarov joined the talks on the Middle Corridor "
            "and Caspian energy routes."
        ),
        "published": _at(15, 11, 40),
    },
    {
        "feed": "report",
        "guid": "report-88213",
        "link": "https://report.example.net/en/politics/gabala-hosts-12th-ots-summit",
        "title": "Gabala Hosts 12th OTS Summit of Turkic Leaders",
        "summary": (
            "The 12th Summit of the Council of Heads of State of the Organization of Turkic "
            "States was held in Gabala on December 15. President Ilham Aliyev welcomed "
            "Recep Tayyip Erdogan, Kassym-Jomart Tokayev, Shavkat Mirziyoyev and Sadyr "
            "Japarov; the leaders reviewed the Turkic World Vision 2040 and transport and "
            "energy links across the Caspian."
        ),
        "published": _at(15, 12, 5),
    },
]

TRADE = [
    {
        "feed": "wire",
        "guid": "wire-2025-12-15-trade-az",
        "link": "https://wire.example.com/business/turkiye-azerbaijan-15-billion",
        "title": "Türkiye and Azerbaijan aim for $15 billion in trade",
        "summary": (
            "Türkiye and Azerbaijan aim to raise bilateral trade to $15 billion, Trade "
            "Minister Ömer Bolat said in Baku on 15 December after a meeting of the joint "
            "economic commission. Bolat added that Türkiye's trade with the Turkic states "
            "should reach $60 billion in the medium term and $100 billion later."
        ),
        "published": _at(15, 13, 0),
    },
    {
        "feed": "daily",
        "guid": "https://daily.example.org/business/2025/12/15/bolat-baku",
        "link": "https://daily.example.org/business/2025/12/15/bolat-baku",
        "title": "Bolat in Baku: $15 billion goal for Turkish-Azerbaijani trade",
        "summary": (
            "Turkish Trade Minister Ömer Bolat said in Baku on Monday that Ankara and Baku "
            "want trade to reach $15 billion a year. Meeting Azerbaijani Economy Minister "
            "Mikayil Jabbarov at the joint economic commission, he said trade with the "
            "Turkic states as a whole could reach $60 billion in the medium term."
        ),
        "published": _at(15, 14, 30),
    },
    {
        "feed": "report",
        "guid": "report-88240",
        "link": "https://report.example.net/en/economy/azerbaijan-turkiye-15bn-trade",
        "title": "Azerbaijan, Türkiye set $15bn trade target",
        "summary": (
            "Azerbaijan and Türkiye have set a target of $15bn in annual trade, Economy "
            "Minister Mikayil Jabbarov and Trade Minister Ömer Bolat announced in Baku on "
            "15 December. Trade between Türkiye and the Turkic states is expected to reach "
            "$60bn in the medium term, Bolat said."
        ),
        "published": _at(15, 15, 10),
    },
]

RECEPTION_WIRE = {
    "feed": "wire",
    "guid": "wire-2025-12-15-omuraliev-washington",
    "link": "https://wire.example.com/diaspora/omuraliev-washington-reception",
    "title": "OTS Secretary General Omuraliev joins diaspora reception in Washington",
    "summary": (
        "Kubanychbek Omuraliev, Secretary General of the Organization of Turkic States, "
        "attended a reception for Turkic diaspora organisations at the Turkish Embassy in "
        "Washington on 15 December. Azerbaijan's Ambassador to the United States Khazar "
        "Ibrahim and community leaders from Kazakhstan, Kyrgyzstan and Uzbekistan also "
        "addressed the gathering."
    ),
    "published": _at(15, 23, 30),
}

RECEPTION = [
    RECEPTION_WIRE,
    # The same item through the wire's second feed: one item, two feed URLs.
    {**RECEPTION_WIRE, "feed": "wire-world"},
    {
        "feed": "daily",
        "guid": "https://daily.example.org/world/2025/12/16/turkic-diaspora-washington",
        "link": "https://daily.example.org/world/2025/12/16/turkic-diaspora-washington",
        "title": "Turkic diaspora gathers at Turkish embassy as OTS chief Omuraliev speaks",
        "summary": (
            "Turkic diaspora associations in the United States met at the Turkish Embassy in "
            "Washington on Monday evening, where OTS Secretary General Kubanychbek Omuraliev "
            "called for closer ties between the diaspora and the member states. Ambassador "
            "Khazar Ibrahim spoke for Azerbaijan."
        ),
        "published": _at(16, 1, 15),
    },
]

#: The reception as a third outlet wrote it, published after the first poll.
RECEPTION_LATER = {
    "feed": "report",
    "guid": "report-88301",
    "link": "https://report.example.net/en/society/omuraliev-diaspora-bridge",
    "title": "Omuraliev: diaspora is a bridge between Turkic states and America",
    "summary": (
        "At a diaspora reception hosted by the Turkish Embassy in Washington on 15 December, "
        "OTS Secretary General Kubanychbek Omuraliev said Turkic communities in the United "
        "States are a bridge between the member states and America. Azerbaijani Ambassador "
        "Khazar Ibrahim and representatives of Kazakh, Kyrgyz and Uzbek associations "
        "attended."
    ),
    "published": _at(16, 7, 20),
}

#: The reception in Russian: the same names, the same date, hardly a word in common.
RECEPTION_RU = {
    "feed": "kabar",
    "guid": "kabar-ru-553120",
    "link": "https://kabar.example.kg/ru/news/omuraliev-vashington",
    "title": "Омуралиев встретился с тюркской диаспорой в Вашингтоне",
    "summary": (
        "Генеральный секретарь Организации тюркских государств Кубанычбек Омуралиев "
        "15 декабря принял участие в приёме для тюркской диаспоры в посольстве Турции в "
        "Вашингтоне. Выступил также посол Азербайджана в США Хазар Ибрагим."
    ),
    "published": _at(16, 4, 0),
}

# Hard negatives: the same people and topics, other events.
BUDAPEST = [
    {
        "feed": "wire",
        "guid": "wire-2025-12-12-diaspora-budapest",
        "link": "https://wire.example.com/diaspora/ots-diaspora-agencies-budapest",
        "title": "OTS diaspora agency heads meet in Budapest",
        "summary": (
            "Heads of the state agencies responsible for diaspora affairs in the member "
            "states of the Organization of Turkic States met in Budapest on 12 December. "
            "Fuad Muradov, chairman of Azerbaijan's State Committee on Work with the "
            "Diaspora, presented the Joint Action Plan on the Diaspora for 2026."
        ),
        "published": _at(14, 16, 0),
    },
    {
        "feed": "daily",
        "guid": "https://daily.example.org/world/2025/12/14/diaspora-plan-budapest",
        "link": "https://daily.example.org/world/2025/12/14/diaspora-plan-budapest",
        "title": "Turkic diaspora agencies adopt 2026 plan in Budapest",
        "summary": (
            "Meeting in Budapest on 12 December, the heads of the diaspora agencies of the "
            "Organization of Turkic States adopted the Joint Action Plan on the Diaspora for "
            "2026, presented by Fuad Muradov of Azerbaijan."
        ),
        "published": _at(14, 18, 30),
    },
]

UZBEK_TRADE = {
    "feed": "daily",
    "guid": "https://daily.example.org/business/2025/12/16/turkiye-uzbekistan-trade",
    "link": "https://daily.example.org/business/2025/12/16/turkiye-uzbekistan-trade",
    "title": "Türkiye and Uzbekistan target $20 billion in trade",
    "summary": (
        "Türkiye and Uzbekistan want bilateral trade to reach $20 billion, Trade Minister "
        "Ömer Bolat said in Tashkent at the intergovernmental commission. Trade with the "
        "Turkic states as a whole should reach $60 billion in the medium term, he said."
    ),
    "published": _at(16, 5, 0),
}

#: Everything the outlets carry at the first poll.
FIRST_POLL = [*SUMMIT, *TRADE, *RECEPTION, *BUDAPEST, UZBEK_TRADE]
STORIES = {
    "summit": SUMMIT,
    "trade": TRADE,
    "reception": RECEPTION,
    "budapest": BUDAPEST,
    "uzbek-trade": [UZBEK_TRADE],
}


def entry(item: dict[str, object]) -> Entry:
    """The item as a parsed Entry (plain text already)."""
    link = str(item["link"]).replace("?utm_source=rss", "")
    published = item["published"]
    assert isinstance(published, datetime)
    return Entry(
        feed_id=str(item["feed"]),
        id=str(item["guid"]),
        url=link,
        title=str(item["title"]),
        summary=str(item["summary"]),
        published=published,
        fingerprint=str(item["guid"]),
        feed_title=OUTLETS[str(item["feed"])],
    )


def rss(feed: str, items: list[dict[str, object]]) -> bytes:
    """An RSS 2.0 feed of the items that belong to ``feed``."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(OUTLETS[feed])}</title><link>https://{feed}.example.com/</link>"
        f"<description>{escape(OUTLETS[feed])}</description>"
    ]
    for item in items:
        if item["feed"] != feed:
            continue
        published = item["published"]
        assert isinstance(published, datetime)
        out.append(
            "<item>"
            f"<title>{escape(str(item['title']))}</title>"
            f"<link>{escape(str(item['link']))}</link>"
            f'<guid isPermaLink="false">{escape(str(item["guid"]))}</guid>'
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
            f"<description>{escape(str(item['summary']))}</description>"
            "</item>"
        )
    out.append("</channel></rss>\n")
    return "".join(out).encode("utf-8")
