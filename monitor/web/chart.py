"""Hits per day -> the bars of a small server-rendered SVG chart. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

#: The chart's size in SVG units; each day gets one bar.
WIDTH = 180
HEIGHT = 32


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float

    @property
    def label(self) -> str:
        return f"{self.day:%Y-%m-%d}: {self.count} hit{'s' if self.count != 1 else ''}"


def days_ending(last: date, count: int) -> list[date]:
    """``count`` days, oldest first, ending with ``last``."""
    return [last - timedelta(days=count - 1 - i) for i in range(count)]


def bars(per_day: Mapping[date, int], days: list[date]) -> list[Bar]:
    """One bar a day, scaled to the busiest day; a day without hits gets a 1-unit stub so
    the chart still shows the period."""
    top = max((per_day.get(d, 0) for d in days), default=0) or 1
    step = WIDTH / max(len(days), 1)
    out = []
    for i, day in enumerate(days):
        count = per_day.get(day, 0)
        height = max(1.0, round((HEIGHT - 2) * count / top, 1)) if count else 1.0
        out.append(
            Bar(
                day,
                count,
                round(i * step, 2),
                round(HEIGHT - height, 2),
                round(step * 0.8, 2),
                height,
            )
        )
    return out
