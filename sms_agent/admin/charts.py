"""Server-side SVG charts for the dashboard: geometry here, drawing in _chart.html.

Staff networks may block CDNs and the admin ships no charting JavaScript, so the charts
are plain SVG shapes computed from the analytics numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .base import usd


@dataclass(frozen=True)
class Shape:
    """A rectangle (a bar) or, with height 0, a horizontal grid line."""

    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str = ""


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"


@dataclass
class Chart:
    title: str
    width: int
    height: int
    shapes: list[Shape] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)

    @property
    def bars(self) -> list[Shape]:
        return [shape for shape in self.shapes if shape.height > 0 and shape.kind != "grid"]


def nice_ceiling(value: int) -> int:
    """The axis maximum: the value rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover  (the loop always returns)


def daily_chart(days: list[dict], width: int = 720, height: int = 240) -> Chart:
    """Tasks per day as stacked bars: successful at the bottom, failed on top, the rest
    (still queued or processing) above them."""
    left, right, bottom, top = 44, 24, 28, 10
    plot_height = height - bottom - top
    ceiling = nice_ceiling(max((day["total"] for day in days), default=0))
    slot = (width - left - right) / max(len(days), 1)
    chart = Chart("Tasks per day", width, height)
    chart.legend = [("ok", "Successful"), ("failed", "Failed"), ("other", "Queued or processing")]
    _add_value_axis(chart, ceiling, left, top, plot_height)
    for index, day in enumerate(days):
        x = left + index * slot + slot * 0.15
        _add_stack(chart, day, x, slot * 0.7, top + plot_height, plot_height / ceiling)
        if index % 5 == 0 or index == len(days) - 1:
            label = date.fromisoformat(day["date"]).strftime("%b %d")
            chart.labels.append(Label(x + slot * 0.35, height - 8, label, "middle"))
    return chart


def _add_value_axis(chart: Chart, ceiling: int, left: int, top: int, plot_height: float) -> None:
    for fraction in (0, 0.5, 1):
        y = top + plot_height * (1 - fraction)
        value = ceiling * fraction
        chart.shapes.append(Shape(left, y, chart.width - left - 4, 0, "grid"))
        if value == int(value):  # tasks come in whole numbers; 2.5 would look odd
            chart.labels.append(Label(left - 6, y + 4, f"{int(value):,}", "end"))


def _add_stack(chart: Chart, day: dict, x: float, width: float, base: float, scale: float):
    other = max(day["total"] - day["successful"] - day["failed"], 0)
    for kind, count in (("ok", day["successful"]), ("failed", day["failed"]), ("other", other)):
        if not count:
            continue
        height = count * scale
        base -= height
        title = f"{day['date']}: {count} {dict(chart.legend)[kind].lower()}"
        chart.shapes.append(
            Shape(round(x, 2), round(base, 2), round(width, 2), round(height, 2), kind, title)
        )


def breakdown_chart(title: str, counts: dict[str, int], width: int = 340) -> Chart:
    """One horizontal bar per name (categories, tiers), longest for the largest count."""
    row, label_width, count_width = 26, 110, 48
    chart = Chart(title, width, max(len(counts), 1) * row + 8)
    largest = max(counts.values(), default=0) or 1
    room = width - label_width - count_width
    for index, (name, count) in enumerate(counts.items()):
        y = 4 + index * row
        bar = room * count / largest
        chart.labels.append(
            Label(label_width - 8, y + 16, name.replace("_", " ").capitalize(), "end")
        )
        if count:
            chart.shapes.append(
                Shape(label_width, y + 3, round(bar, 2), row - 8, "bar", f"{name}: {count}")
            )
        chart.labels.append(Label(label_width + bar + 6, y + 16, f"{count:,}"))
    return chart


def money_ceiling(value: float) -> float:
    """The axis maximum for amounts in USD: 1, 2 or 5 times a power of ten, cents included."""
    if value <= 0:
        return 0.01
    magnitude = 0.01
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return round(step * magnitude, 6)
    return round(10 * magnitude, 6)  # pragma: no cover  (the loop always returns)


def spend_chart(days: list[dict], width: int = 720, height: int = 240) -> Chart:
    """USD spent per day as stacked bars: SMS at the bottom, the model on top."""
    left, right, bottom, top = 56, 24, 28, 10
    plot_height = height - bottom - top
    ceiling = money_ceiling(max((float(day["total_usd"]) for day in days), default=0))
    slot = (width - left - right) / max(len(days), 1)
    chart = Chart("Spend per day (USD)", width, height)
    chart.legend = [("sms", "SMS"), ("model", "Model")]
    for fraction in (0, 0.5, 1):
        y = top + plot_height * (1 - fraction)
        chart.shapes.append(Shape(left, y, width - left - 4, 0, "grid"))
        chart.labels.append(Label(left - 6, y + 4, f"${ceiling * fraction:,.2f}", "end"))
    scale = plot_height / ceiling
    for index, day in enumerate(days):
        x, base = left + index * slot + slot * 0.15, top + plot_height
        for kind, name in chart.legend:
            amount = float(day[f"{kind}_usd"])
            if not amount:
                continue
            base -= amount * scale
            # The day's amount as the API gives it (a Decimal), not the float the bar is
            # drawn with.
            title = f"{day['date']}: {name} ${usd(day[f'{kind}_usd'])}"
            size = (round(slot * 0.7, 2), round(amount * scale, 2))
            chart.shapes.append(Shape(round(x, 2), round(base, 2), *size, kind, title))
        if index % 5 == 0 or index == len(days) - 1:
            label = date.fromisoformat(day["date"]).strftime("%b %d")
            chart.labels.append(Label(x + slot * 0.35, height - 8, label, "middle"))
    return chart
