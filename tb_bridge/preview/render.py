"""Render a ThingsBoard dashboard export into static HTML with plotly, from a data source.

Each widget becomes ``<section class="widget" data-fqn=... data-points=N>``; ``data-points`` counts the
data points drawn: a chart's points in its time window, 1 for a value card with a value (and for a slider or
button), a table's rows that hold a value (a key or well name alone is no data), so an empty widget is visible
to a test and to the reader (:func:`widget_points` gives the same numbers per dashboard and widget title). Time windows follow ThingsBoard: realtime ``timewindowMs`` ends now; a quick interval
(``realtimeType`` 1) covers the whole current day/month/year, so future points (forecasts, projections) show.
"""
from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass
from typing import Any, Protocol

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from tb_bridge.preview.data import Entity


class DataSource(Protocol):
    def entities(self, alias_filter: dict[str, Any]) -> list[Entity]: ...
    def attributes(self, entity: Entity, keys: list[str]) -> dict[str, Any]: ...
    def latest(self, entity: Entity, keys: list[str]) -> dict[str, Any]: ...
    def history(self, entity: Entity, keys: list[str], start_ms: int, end_ms: int) -> dict[str, list[tuple[int, Any]]]: ...
    def alarms(self, entity: Entity) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class WidgetView:
    """One rendered widget: its id, FQN, title, HTML body and how many values it shows."""

    id: str
    fqn: str
    title: str
    body: str
    points: int


def time_window(timewindow: dict[str, Any], now_ms: int) -> tuple[int, int]:
    """``(start_ms, end_ms)`` of a realtime ThingsBoard timewindow at ``now_ms`` (UTC calendar)."""
    rt = timewindow.get("realtime") or {}
    if rt.get("realtimeType", 0) == 0:
        return now_ms - int(rt["timewindowMs"]), now_ms
    now = dt.datetime.fromtimestamp(now_ms / 1000, dt.timezone.utc)
    quick = rt.get("quickInterval")
    if quick == "CURRENT_DAY":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
    elif quick == "CURRENT_MONTH":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + dt.timedelta(days=32)).replace(day=1)
    elif quick == "CURRENT_YEAR":
        start = now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1)
    else:
        raise ValueError(f"quick interval {quick!r} is not supported by the preview")
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def xy_series(values: list[tuple[str, Any]]) -> list[tuple[str, list[float], list[float]]]:
    """Curves as the dashboards' markdown function draws them: ``[[x, y], ...]`` arrays, a flat array of numbers
    against its index (e.g. the best NPV per generation), objects with two arrays
    (``{"position_in": [...], "load_lbf": [...]}``), and the first two scalars as one point.
    Returns ``(label, xs, ys)``; a data key with ``settings.atilaxMarkers`` is drawn as points."""
    series, nums = [], []
    for label, value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            nums.append(float(value))
            continue
        pts: list[tuple[float, float]] = []
        if isinstance(value, list) and value and all(isinstance(p, (int, float)) and not isinstance(p, bool)
                                                     for p in value):
            pts = [(float(i), float(p)) for i, p in enumerate(value)]
        elif isinstance(value, list):
            pts = [(float(p[0]), float(p[1])) for p in value if isinstance(p, (list, tuple)) and len(p) >= 2]
        elif isinstance(value, dict):
            arrays = [v for v in value.values() if isinstance(v, list)]
            if len(arrays) >= 2:
                pts = [(float(x), float(y)) for x, y in zip(arrays[0], arrays[1])]
        if pts:
            series.append((label, [p[0] for p in pts], [p[1] for p in pts]))
    if len(nums) >= 2:
        series.append(("operating point", [nums[0]], [nums[1]]))
    return series


def _fig_html(fig: go.Figure) -> str:
    fig.update_layout(height=300, margin=dict(l=50, r=10, t=10, b=40), template="plotly_white",
                      legend=dict(orientation="h"))
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"staticPlot": True})


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:200]
    return "" if value is None else str(value)


def _table(headers: list[str], rows: list[list[Any]], label_columns: int = 0) -> tuple[str, int]:
    """The HTML table and its number of rows with a value outside the first ``label_columns`` columns."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    filled = sum(1 for row in rows if any(_fmt(c) != "" for c in row[label_columns:]))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>", filled


class DashboardRenderer:
    """Renders the widgets of one dashboard export from ``source`` at ``now_ms``."""

    def __init__(self, dashboard: dict[str, Any], source: DataSource, now_ms: int) -> None:
        self.dashboard = dashboard
        self.config = dashboard["configuration"]
        self.source = source
        self.now_ms = int(now_ms)
        self._entities: dict[str, list[Entity]] = {}

    def entities(self, alias_id: str) -> list[Entity]:
        if alias_id not in self._entities:
            self._entities[alias_id] = self.source.entities(self.config["entityAliases"][alias_id]["filter"])
        return self._entities[alias_id]

    def _values(self, entity: Entity, keys: list[dict[str, Any]]) -> dict[str, Any]:
        attrs = self.source.attributes(entity, [k["name"] for k in keys if k["type"] == "attribute"])
        latest = self.source.latest(entity, [k["name"] for k in keys if k["type"] == "timeseries"])
        fields = {"name": entity.name, "type": entity.type}
        out = {}
        for k in keys:
            table = {"attribute": attrs, "timeseries": latest, "entityField": fields}.get(k["type"], {})
            out[k["name"]] = table.get(k["name"])
        return out

    def render(self) -> list[WidgetView]:
        layout = self.config["states"]["default"]["layouts"]["main"]["widgets"]
        order = sorted(layout, key=lambda wid: (layout[wid]["row"], layout[wid]["col"]))
        return [self.render_widget(wid, self.config["widgets"][wid]) for wid in order]

    def render_widget(self, wid: str, widget: dict[str, Any]) -> WidgetView:
        fqn = widget["typeFullFqn"]
        cfg = widget["config"]
        method = {
            "system.time_series_chart": self._chart, "system.cards.value_card": self._value_card,
            "system.cards.attributes_card": self._attributes_card, "system.cards.entities_table": self._entities_table,
            "system.cards.markdown_card": self._xy_card, "system.alarm_widgets.alarms_table": self._alarms_table,
            "system.slider": self._slider, "system.command_button": self._command_button,
        }.get(fqn)
        if method is None:
            raise ValueError(f"widget {fqn} has no preview renderer")
        body, points = method(cfg)
        return WidgetView(wid, fqn, cfg.get("title", ""), body, points)

    def _chart(self, cfg: dict[str, Any]) -> tuple[str, int]:
        tw = self.config["timewindow"] if cfg.get("useDashboardTimewindow", True) else cfg["timewindow"]
        start, end = time_window(tw, self.now_ms)
        fig, points = go.Figure(), 0
        for ds in cfg["datasources"]:
            entities = self.entities(ds["entityAliasId"])
            for entity in entities:
                keys = [k for k in ds["dataKeys"] if k["type"] == "timeseries"]
                found = self.source.history(entity, [k["name"] for k in keys], start, end)
                for k in keys:
                    pts = [(ts, v) for ts, v in found.get(k["name"], []) if isinstance(v, (int, float))]
                    if not pts:
                        continue
                    label = k.get("label") or k["name"]
                    name = f"{entity.name} · {label}" if len(entities) > 1 else label
                    fig.add_trace(go.Scatter(x=[dt.datetime.fromtimestamp(t / 1000, dt.timezone.utc) for t, _ in pts],
                                             y=[v for _, v in pts], mode="lines", name=name))
                    points += len(pts)
        fig.update_xaxes(range=[dt.datetime.fromtimestamp(start / 1000, dt.timezone.utc),
                                dt.datetime.fromtimestamp(end / 1000, dt.timezone.utc)])
        return _fig_html(fig), points

    def _first_entity(self, cfg: dict[str, Any]) -> Entity | None:
        entities = self.entities(cfg["datasources"][0]["entityAliasId"])
        return entities[0] if entities else None

    def _value_card(self, cfg: dict[str, Any]) -> tuple[str, int]:
        entity = self._first_entity(cfg)
        key = cfg["datasources"][0]["dataKeys"][0]
        value = None if entity is None else self._values(entity, [key])[key["name"]]
        units = html.escape(key.get("units") or "")
        return (f'<div class="value">{html.escape(_fmt(value)) or "–"} <span class="units">{units}</span></div>',
                0 if value is None else 1)

    def _attributes_card(self, cfg: dict[str, Any]) -> tuple[str, int]:
        entity = self._first_entity(cfg)
        keys = cfg["datasources"][0]["dataKeys"]
        values = {} if entity is None else self._values(entity, keys)
        return _table(["Key", "Value"], [[k.get("label") or k["name"], values.get(k["name"])] for k in keys],
                      label_columns=1)

    def _entities_table(self, cfg: dict[str, Any]) -> tuple[str, int]:
        ds = cfg["datasources"][0]
        keys = ds["dataKeys"]
        rows = []
        for entity in self.entities(ds["entityAliasId"]):
            values = self._values(entity, keys)
            rows.append([entity.name] + [values[k["name"]] for k in keys])
        return _table(["Well"] + [k.get("label") or k["name"] for k in keys], rows, label_columns=1)

    def _xy_card(self, cfg: dict[str, Any]) -> tuple[str, int]:
        entity = self._first_entity(cfg)
        keys = cfg["datasources"][0]["dataKeys"]
        values = {} if entity is None else self._values(entity, keys)
        if any((k.get("settings") or {}).get("atilaxHeatmap") for k in keys):
            return self._map_card(keys, values)
        if any((k.get("settings") or {}).get("atilaxTable") for k in keys):
            return self._json_table_card(keys, values)
        if any((k.get("settings") or {}).get("atilaxPareto") for k in keys):
            return self._pareto_card(keys, values)
        rows = next((v for v in (_json_value(values.get(k["name"])) for k in keys)
                     if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)), None)
        if rows is not None:  # a table card (e.g. sim_compare_data: [{quantity, unit, original, ...}])
            headers = list(dict.fromkeys(h for r in rows for h in r))
            return _table(headers, [[r.get(h) for h in headers] for r in rows])
        fig, points = go.Figure(), 0
        markers = {k.get("label") or k["name"] for k in keys if (k.get("settings") or {}).get("atilaxMarkers")}
        for label, xs, ys in xy_series([(k.get("label") or k["name"], values.get(k["name"])) for k in keys]):
            mode = "markers" if len(xs) == 1 or label in markers else "lines"
            fig.add_trace(go.Scatter(x=xs, y=ys, mode=mode, name=label, marker=dict(size=10)))
            points += len(xs)
        return _fig_html(fig), points

    @staticmethod
    def _json_table_card(keys: list[dict[str, Any]], values: dict[str, Any]) -> tuple[str, int]:
        """A JSON attribute the card's function draws as a table (the ``atilaxTable`` key): a list of objects as one
        row each (columns: their scalar fields), an object as one row per scalar field (nested objects flattened one
        level, e.g. the alarm KPIs' ``targets``)."""
        value = next((values.get(k["name"]) for k in keys if (k.get("settings") or {}).get("atilaxTable")), None)
        if isinstance(value, str) and value[:1] in "[{":
            value = json.loads(value)
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            columns = list(dict.fromkeys(c for r in value for c, v in r.items() if not isinstance(v, (dict, list))))
            return _table(columns, [[r.get(c) for c in columns] for r in value])
        if isinstance(value, dict):
            rows = []
            for name, v in value.items():
                if isinstance(v, dict):
                    rows.extend([f"{name}.{k}", w] for k, w in v.items() if not isinstance(w, (dict, list)))
                else:
                    rows.append([name, v])
            return _table(["field", "value"], rows, label_columns=1)
        return _table(["field", "value"], [])

    @staticmethod
    def _pareto_card(keys: list[dict[str, Any]], values: dict[str, Any]) -> tuple[str, int]:
        """The Pareto front (``opt_pareto_front``, the ``atilaxPareto`` key) as the card's function draws it: oil rate
        against specific energy, coloured by equipment life, the knee ringed and today's operating point a square."""
        front = next((values.get(k["name"]) for k in keys if (k.get("settings") or {}).get("atilaxPareto")), None)
        if isinstance(front, str) and front[:1] == "{":
            front = json.loads(front)
        if not isinstance(front, dict) or not front.get("points"):
            return _fig_html(go.Figure()), 0
        pts, units = front["points"], front.get("units") or {}
        fig = go.Figure(go.Scatter(x=[p["oil_bpd"] for p in pts], y=[p["specific_energy"] for p in pts], mode="markers",
                                   name="front", marker=dict(size=7, color=[p["equipment_life"] for p in pts],
                                                             colorscale="RdBu", showscale=True)))
        knee = front.get("knee_index")
        if isinstance(knee, int) and 0 <= knee < len(pts):
            fig.add_trace(go.Scatter(x=[pts[knee]["oil_bpd"]], y=[pts[knee]["specific_energy"]], mode="markers", name="knee",
                                     marker=dict(size=14, symbol="circle-open", color="black")))
        current = front.get("current")
        if isinstance(current, dict):
            fig.add_trace(go.Scatter(x=[current["oil_bpd"]], y=[current["specific_energy"]], mode="markers", name="today",
                                     marker=dict(size=11, symbol="square", color="black")))
        fig.update_xaxes(title_text="oil, bbl/d")
        fig.update_yaxes(title_text=f"energy, {units.get('specific_energy', '')}")
        return _fig_html(fig), len(pts)

    def _map_card(self, keys: list[dict[str, Any]], values: dict[str, Any]) -> tuple[str, int]:
        """A grid map as the field-development card draws it: the ``atilaxHeatmap`` key's ``[row][col]`` values
        as a heat map (row 0 on top), the ``atilaxMarkers`` keys' ``[row, col]`` cells as points over it."""
        fig, points = go.Figure(), 0
        for k in keys:
            settings, value = k.get("settings") or {}, values.get(k["name"])
            if isinstance(value, str) and value[:1] in "[{":
                value = json.loads(value)
            if settings.get("atilaxHeatmap") and isinstance(value, list) and value and isinstance(value[0], list):
                fig.add_trace(go.Heatmap(z=value, colorscale="YlGnBu", name=k.get("label") or k["name"],
                                         colorbar=dict(title=k.get("label") or k["name"])))
                points += sum(len(r) for r in value)
            elif settings.get("atilaxMarkers") and isinstance(value, list):
                cells = [c for c in value if isinstance(c, list) and len(c) >= 2]
                fig.add_trace(go.Scatter(x=[c[1] for c in cells], y=[c[0] for c in cells], mode="markers",
                                         name=k.get("label") or k["name"], marker=dict(size=12, color="#e53935")))
                points += len(cells)
        fig.update_yaxes(autorange="reversed", title="row")
        fig.update_xaxes(title="col")
        return _fig_html(fig), points

    def _alarms_table(self, cfg: dict[str, Any]) -> tuple[str, int]:
        source = cfg["alarmSource"]
        rows = []
        for entity in self.entities(source["entityAliasId"]):
            for alarm in self.source.alarms(entity):
                row = {"createdTime": dt.datetime.fromtimestamp(alarm["createdTime"] / 1000, dt.timezone.utc)
                       .strftime("%Y-%m-%d %H:%M"), "originator": entity.name, "originatorDisplayName": entity.name,
                       "type": alarm["type"], "severity": alarm["severity"], "status": alarm["status"]}
                rows.append([row.get(k["name"]) for k in source["dataKeys"]])
        return _table([k.get("label") or k["name"] for k in source["dataKeys"]], rows)

    def _slider(self, cfg: dict[str, Any]) -> tuple[str, int]:
        settings = cfg["settings"]
        entities = self.entities(cfg["targetDevice"]["entityAliasId"])
        key = settings["valueChange"]["setAttribute"]["key"]
        value = self.source.attributes(entities[0], [key]).get(key) if entities else None
        lo, hi = settings["tickMin"], settings["tickMax"]
        shown = value if isinstance(value, (int, float)) else settings["initialState"]["defaultValue"]
        return (f'<input type="range" min="{lo}" max="{hi}" step="any" value="{shown}" disabled> '
                f'<span class="value">{html.escape(_fmt(value)) or "not set"} {html.escape(settings.get("valueUnits") or "")}</span>'
                f'<div class="key">writes {html.escape(key)} (SERVER_SCOPE)</div>', 1)


    def _command_button(self, cfg: dict[str, Any]) -> tuple[str, int]:
        """ThingsBoard's Command button: its label, the attribute and constant it writes on a click, and whether
        its disabled state (an attribute read through a function) disables it now."""
        settings = cfg["settings"]
        click = settings["onClickState"]
        key, value = click["setAttribute"]["key"], click["valueToData"].get("constantValue")
        disabled = settings.get("disabledState", {})
        state = ""
        if disabled.get("action") == "GET_ATTRIBUTE":
            entities = self.entities(cfg["targetDevice"]["entityAliasId"])
            watched = disabled["getAttribute"]["key"]
            current = self.source.attributes(entities[0], [watched]).get(watched) if entities else None
            state = f" (enabled while {watched} is true)" if current is not True else ""
        label = html.escape(settings.get("appearance", {}).get("label") or cfg.get("title", ""))
        return (f'<button disabled>{label}</button><div class="key">writes {html.escape(key)} = '
                f'{html.escape(json.dumps(value))} (SERVER_SCOPE){html.escape(state)}</div>', 1)


def _json_value(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


_CSS = """
body{font-family:Roboto,Arial,sans-serif;background:#eeeeee;margin:0;padding:12px}
h1{font-size:20px} h2{font-size:17px;margin:24px 0 8px}
.grid{display:grid;grid-template-columns:repeat(24,1fr);gap:10px}
.widget{background:#fff;border-radius:4px;box-shadow:0 1px 3px rgba(0,0,0,.2);padding:8px;overflow:auto}
.widget h3{font-size:14px;margin:0 0 6px;font-weight:500}
.value{font-size:28px;font-weight:500}.units{font-size:14px;color:#666}
table{border-collapse:collapse;font-size:12px;width:100%}td,th{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left}
.empty{outline:2px dashed #f44336}
"""


def render_dashboards(dashboards: dict[str, dict[str, Any]], source: DataSource, now_ms: int) -> dict[str, list[WidgetView]]:
    """Every widget of every dashboard (file stem -> its widgets in layout order), rendered once."""
    return {stem: DashboardRenderer(dashboard, source, now_ms).render() for stem, dashboard in dashboards.items()}


def widget_points(views: dict[str, list[WidgetView]]) -> dict[str, dict[str, int]]:
    """``{dashboard stem: {widget title: data points}}`` of :func:`render_dashboards`' widgets (the id stands in
    for a missing title)."""
    return {stem: {view.title or view.id: view.points for view in widgets} for stem, widgets in views.items()}


def render_page(dashboards: dict[str, dict[str, Any]], source: DataSource, now_ms: int,
                title: str = "Atilax dashboards preview", views: dict[str, list[WidgetView]] | None = None) -> str:
    """One self-contained HTML page (plotly.js inlined) with every dashboard's widgets on its 24-column grid;
    ``views``: the widgets already rendered by :func:`render_dashboards` (else they are rendered here)."""
    views = render_dashboards(dashboards, source, now_ms) if views is None else views
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body><h1>{html.escape(title)}</h1>"]
    for stem, dashboard in dashboards.items():
        layout = dashboard["configuration"]["states"]["default"]["layouts"]["main"]["widgets"]
        parts.append(f'<h2 id="{html.escape(stem)}">{html.escape(dashboard["title"])}</h2><div class="grid" data-dashboard="{html.escape(stem)}">')
        for view in views[stem]:
            place = layout[view.id]
            style = (f"grid-column:{place['col'] + 1} / span {place['sizeX']};"
                     f"grid-row:{place['row'] + 1} / span {place['sizeY']};min-height:{place['sizeY'] * 50}px")
            cls = "widget" if view.points else "widget empty"
            parts.append(f'<section class="{cls}" style="{style}" data-widget-id="{view.id}" data-fqn="{view.fqn}" '
                         f'data-points="{view.points}"><h3>{html.escape(view.title)}</h3>{view.body}</section>')
        parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)
