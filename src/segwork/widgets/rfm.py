"""The RFM explorer (JupyterLab): choose bins, segment map and window; see segment sizes, revenue
shares and a sample of members update live.

The computation is segwork's own (:func:`segwork.rfm.features`, :func:`segwork.rfm.score`,
:func:`segwork.rfm.segment_kpis`), never a copy: the explorer shows what notebook 02 would
compute with the same parameters. Features are aggregated once per window (the slow part,
through Ibis) and kept, so changing bins or the segment map only re-scores them.
:func:`score_view` and :func:`member_sample` are plain functions, so tests and scripts use them
without a browser; :class:`RfmExplorer` holds the widgets.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ipywidgets as w
import numpy as np
import pandas as pd

from segwork import rfm
from segwork.display import PageTable, page_table_html, table_html
from segwork.errors import SegworkError
from segwork.pages.rfm_clv import coverage_text, segment_table
from segwork.schema import to_day

ALL_HISTORY = "all"  # the window control's value for all history (a Dropdown cannot hold None)
WINDOWS: tuple[tuple[str, int | str], ...] = (
    ("last 90 days", 90),
    ("last 180 days", 180),
    ("last year (365 days)", 365),
    ("last 2 years (730 days)", 730),
    ("all history", ALL_HISTORY),
)
MAP_FILE = "file"  # the segment map control's value for a YAML file (named in the text box)
MAP_GIVEN = "given"  # ... for a map passed to the explorer as a dict
MAPS: tuple[tuple[str, str], ...] = (
    ("default (11 segments)", "default"),
    ("R x F grid (10 segments)", "rf_grid"),
    ("YAML file", MAP_FILE),
)
SAMPLE_PROFILE_COLUMNS = ("name", "customer_type", "region")
# the key figures the explorer shows (page 02 shows them all): sizes and revenue shares
SIZE_COLUMNS = ("segment", "customers", "customer_share", "revenue", "revenue_share")
SAMPLE_FORMATS = {"days since last purchase": "count", "purchases": "count", "net revenue": "money"}


@dataclass(frozen=True)
class RfmView:
    """What the explorer shows for one setting: the scored customers (``rfm.score``), the key
    figures per segment (``rfm.segment_kpis``: customers, customer_share, revenue,
    revenue_share, ...) and the scoring notes (collapsed quantiles) in words."""

    scored: pd.DataFrame
    kpis: pd.DataFrame
    notes: tuple[str, ...]

    @property
    def segments(self) -> list[str]:
        """The segments of the map, in display order (best first), empty ones included."""
        return [str(s) for s in self.scored["segment"].cat.categories]


def score_view(
    features: pd.DataFrame, *, bins: int, segment_map: Mapping[str, Any] | str | Path
) -> RfmView:
    """Score classic RFM ``features`` (the output of :func:`segwork.rfm.features`) with ``bins``
    and ``segment_map`` and total them per segment; raises :class:`segwork.rfm.RFMError` (a
    :class:`~segwork.rfm.SegmentMapError` for a map that is not a partition)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = rfm.score(features, bins=bins, segment_map=segment_map)
    notes = tuple(
        sorted({str(c.message) for c in caught if issubclass(c.category, rfm.RFMWarning)})
    )
    return RfmView(scored=scored, kpis=rfm.segment_kpis(scored), notes=notes)


def _profile(customers: pd.DataFrame | None) -> pd.DataFrame | None:
    if customers is None:
        return None
    prof = customers.set_index("customer_id") if "customer_id" in customers else customers
    return prof[~prof.index.duplicated()]


def member_sample(
    scored: pd.DataFrame,
    segment: str,
    *,
    n: int = 10,
    seed: int = 0,
    customers: pd.DataFrame | None = None,
    columns: tuple[str, ...] | list[str] = SAMPLE_PROFILE_COLUMNS,
) -> pd.DataFrame:
    """``n`` customers of ``segment`` drawn at random (``seed``), in customer order, with plain
    column labels: customer, the profile ``columns`` of ``customers`` that exist, RFM code, days
    since last purchase, purchases and net revenue (of the features' window)."""
    ids = scored.index[(scored["segment"] == segment).to_numpy()]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(ids), size=min(int(n), len(ids)), replace=False))
    rows = scored.loc[ids[pick]]
    out = pd.DataFrame({"customer": rows.index.astype(str)}, index=rows.index)
    prof = _profile(customers)
    if prof is not None:
        for col in (c for c in columns if c in prof.columns):
            out[col.replace("_", " ")] = prof[col].reindex(rows.index)
    out["RFM code"] = rows["rfm_code"].astype(str)
    out["days since last purchase"] = rows["recency"]
    out["purchases"] = rows["frequency"]
    out["net revenue"] = rows["monetary"]
    return out.reset_index(drop=True)


def _window_options(window_days: int | None) -> list[tuple[str, int | str]]:
    opts = list(WINDOWS)
    if window_days is not None and window_days not in [v for _, v in opts]:
        opts.insert(-1, (f"last {int(window_days):,} days", int(window_days)))
        opts[:-1] = sorted(opts[:-1], key=lambda o: int(o[1]))
    return opts


class RfmExplorer:
    """Bins, segment map and window as controls; segment sizes, revenue shares and a member
    sample, updating live.

    ``RfmExplorer(orders, analysis_date=...).widget`` is the box to display (the explorer also
    displays itself). ``orders`` is the orders table (pandas or Ibis, as
    :func:`segwork.rfm.features` takes it); ``customers`` (optional, one row per customer) names
    the customers in the sample and counts the customers without orders. Setting a control's
    value (``ex.bins.value = 4``) updates as the browser does; ``ex.view`` is the current
    :class:`RfmView` (None when the setting cannot be scored: ``ex.error`` says why).
    """

    def __init__(
        self,
        orders: pd.DataFrame | ibis.Table,
        *,
        analysis_date: Any,
        customers: pd.DataFrame | None = None,
        bins: int = 5,
        segment_map: Mapping[str, Any] | str | Path = "default",
        window_days: int | None = 365,
        currency: str = "CZK",
        sample_size: int = 10,
        seed: int = 0,
        sample_columns: tuple[str, ...] | list[str] = SAMPLE_PROFILE_COLUMNS,
    ):
        self.orders = orders
        self.analysis_date = to_day(analysis_date, "analysis_date", error=rfm.RFMError)
        self.customers = _profile(customers)  # indexed by customer_id once
        self.currency = currency
        self.sample_size = sample_size
        self.seed = seed
        self.sample_columns = tuple(sample_columns)
        self._features: dict[int | None, pd.DataFrame] = {}
        self._given_map: Mapping[str, Any] | None = None
        self.view: RfmView | None = None
        self.features: pd.DataFrame | None = None
        self.error: str | None = None
        self.members: pd.DataFrame | None = None
        self._muted = False

        style = {"description_width": "initial"}
        self.bins = w.IntSlider(
            value=bins,
            min=2,
            max=9,
            description="Bins (scores per R, F, M)",
            continuous_update=False,
            style=style,
        )
        map_options = list(MAPS)
        map_value, map_path = "default", ""
        if isinstance(segment_map, Mapping):
            self._given_map = segment_map
            map_options.append(("the map passed in", MAP_GIVEN))
            map_value = MAP_GIVEN
        elif isinstance(segment_map, str) and segment_map in ("default", "rf_grid"):
            map_value = segment_map
        else:
            map_value, map_path = MAP_FILE, str(segment_map)
        self.segment_map = w.Dropdown(
            options=map_options, value=map_value, description="Segment map", style=style
        )
        self.map_file = w.Text(
            value=map_path,
            placeholder="path/to/segments.yaml",
            description="YAML file",
            continuous_update=False,
            disabled=map_value != MAP_FILE,
            style=style,
        )
        self.window = w.Dropdown(
            options=_window_options(window_days),
            value=ALL_HISTORY if window_days is None else int(window_days),
            description="Window",
            style=style,
        )
        self.segment = w.Dropdown(options=[], description="Sample of", style=style)
        self.another = w.Button(description="Another sample", tooltip="Draw another sample")
        self.header = w.HTML()
        self.message = w.HTML()
        self.sizes = w.HTML()
        self.sample = w.HTML()

        for control in (self.bins, self.segment_map, self.map_file, self.window):
            control.observe(lambda _change: self.update(), names="value")
        self.segment.observe(lambda _change: self._sample_changed(), names="value")
        self.another.on_click(lambda _button: self.next_sample())
        wrap = w.Layout(flex_flow="row wrap", align_items="flex-start")
        self.widget = w.VBox(
            [
                w.HBox([self.bins, self.segment_map, self.map_file, self.window], layout=wrap),
                self.header,
                self.message,
                w.HBox(
                    [self.sizes, w.VBox([w.HBox([self.segment, self.another]), self.sample])],
                    layout=wrap,
                ),
            ]
        )
        self.update()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- computation ---------------------------------------------------------------------

    def window_days(self) -> int | None:
        """The window of the control: days of history, or None for all history."""
        value = self.window.value
        return None if value == ALL_HISTORY else int(value)

    def features_for(self, window_days: int | None) -> pd.DataFrame:
        """Classic RFM features of ``window_days`` (None = all history), aggregated once per window."""
        if window_days not in self._features:
            with warnings.catch_warnings():  # the coverage sentence says who is left out
                warnings.simplefilter("ignore", rfm.RFMWarning)
                self._features[window_days] = rfm.features(
                    self.orders, analysis_date=self.analysis_date, window_days=window_days
                )
        return self._features[window_days]

    def _map(self) -> Mapping[str, Any] | str:
        if self.segment_map.value == MAP_GIVEN:
            assert self._given_map is not None
            return self._given_map
        if self.segment_map.value == MAP_FILE:
            path = self.map_file.value.strip()
            if not path:
                raise rfm.SegmentMapError("type the path of a segment map YAML file")
            if not path.lower().endswith((".yml", ".yaml")):
                raise rfm.SegmentMapError(
                    f"segment map file {path!r}: the name must end in .yaml or .yml"
                )
            return path
        return str(self.segment_map.value)

    def _customers_total(self) -> int | None:
        return None if self.customers is None else len(self.customers)

    # -- the widgets ---------------------------------------------------------------------

    def update(self) -> None:
        """Score for the current controls and redraw the header, the table and the sample."""
        if self._muted:
            return
        self.map_file.disabled = self.segment_map.value != MAP_FILE
        self.view, self.error, self.features = None, None, None
        try:
            self.features = self.features_for(self.window_days())
            self.view = score_view(
                self.features, bins=int(self.bins.value), segment_map=self._map()
            )
        except SegworkError as e:
            self.error = str(e)
        self._render()

    def _render(self) -> None:
        self.header.value = self._header_html(self.features)
        if self.view is None:
            self.message.value = (
                "<pre style='color:#c53030;white-space:pre-wrap'>"
                f"{html.escape(self.error or '')}</pre>"
            )
            self.sizes.value, self.sample.value, self.members = "", "", None
            return
        view = self.view
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in view.notes)
        self.message.value = (
            f"<ul style='color:#4a5568;font-size:0.9em;margin:2px 0'>{notes}</ul>" if notes else ""
        )
        self.sizes.value = page_table_html(
            self._size_table(view.kpis), caption="Segments", max_rows=len(view.kpis)
        )
        self._muted = True  # new options reset the value; one redraw below, not one per option
        try:
            chosen = self.segment.value
            sizes = view.kpis.set_index("segment")["customers"]
            self.segment.options = [(f"{s} ({int(sizes.get(s, 0)):,})", s) for s in view.segments]
            non_empty = [s for s in view.segments if sizes.get(s, 0) > 0]
            self.segment.value = (
                chosen
                if chosen in view.segments
                else (non_empty[0] if non_empty else view.segments[0])
            )
        finally:
            self._muted = False
        self._draw_sample()

    def _size_table(self, kpis: pd.DataFrame) -> PageTable:
        """Page 02's segment table (:func:`segwork.pages.rfm_clv.segment_table`), its size and
        revenue columns, with what they count."""
        window = self.window_days()
        table = segment_table(kpis[list(SIZE_COLUMNS)], currency=self.currency, window_days=window)
        where = "over the whole history" if window is None else f"in the last {window:,} days"
        note = (
            f"Net revenue: purchases minus returns {where} up to the analysis date; shares are "
            "of all scored customers and of their net revenue."
        )
        return PageTable(table.frame, table.formats, note, table.labels, table.currency)

    def _header_html(self, features: pd.DataFrame | None) -> str:
        window = self.window_days()
        head = f"<b>Analysis date {self.analysis_date:%d %b %Y}</b> &middot; window: " + (
            "all history" if window is None else f"last {window:,} days"
        )
        if features is None:
            return head
        return (
            head
            + f" &middot; <b>{len(features):,}</b> customers scored"
            + "<br><span style='color:#4a5568'>"
            + html.escape(coverage_text(features, customers_total=self._customers_total()))
            + "</span>"
        )

    def _sample_changed(self) -> None:
        if not self._muted:
            self._draw_sample()

    def next_sample(self) -> None:
        """Draw another sample of the selected segment (the next seed)."""
        self.seed += 1
        self._draw_sample()

    def _draw_sample(self) -> None:
        if self.view is None or self.segment.value is None:
            self.members, self.sample.value = None, ""
            return
        segment = str(self.segment.value)
        self.members = member_sample(
            self.view.scored,
            segment,
            n=self.sample_size,
            seed=self.seed,
            customers=self.customers,
            columns=self.sample_columns,
        )
        if self.members.empty:
            self.sample.value = f"<p>No customers in {html.escape(segment)}.</p>"
            return
        n_all = int(self.view.kpis.set_index("segment").loc[segment, "customers"])
        self.sample.value = table_html(
            self.members,
            caption=f"{len(self.members):,} of {n_all:,} customers in {segment} "
            f"(random sample, seed {self.seed})",
            formats=SAMPLE_FORMATS,
            currency=self.currency,
        )
