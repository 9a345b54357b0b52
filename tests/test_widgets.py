"""The rule builder is constructed and driven as a user would: type, read count, sample and errors."""

from __future__ import annotations

import pandas as pd
import pytest

from segwork import abtest
from segwork.abtest import ABTestError
from segwork.widgets import RuleBuilder, planner


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Eva <b>Nová</b>", "Jan", "Petr", "Ida"],
            "region": ["Jihomoravský kraj", "Jihomoravský kraj", "Zlínský kraj", None],
            "revenue_365d": [60_000.0, 10_000.0, 90_000.0, 70_000.0],
        },
        index=pd.Index(["C1", "C2", "C3", "C4"], name="customer_id"),
    )


def test_typing_updates_count_sample_and_errors() -> None:
    b = RuleBuilder(_customers(), delay=0)  # messages at once (the pause is tested below)
    assert "Type a rule" in b.count.value and b.members is None
    b.rule.value = 'region == "Jihomoravský kraj" and revenue_365d > 50000'
    assert b.error is None and b.members.tolist() == [True, False, False, False]
    assert "<b>1</b> of 4 customers" in b.count.value
    assert "Eva &lt;b&gt;Nová&lt;/b&gt;" in b.sample.value and "<b>Nová</b>" not in b.sample.value
    b.rule.value = "revenue_365d > 50000"
    assert b.members.sum() == 3 and "<b>3</b> of 4" in b.count.value
    b.rule.value = "revenu_365d > 5"
    assert b.members is None and "revenue_365d" in b.error  # suggests the closest column
    assert "color:#c53030" in b.message.value and b.sample.value == ""
    b.rule.value = "__import__('os').system('x')"
    assert b.error is not None and b.members is None


# ------------------------------------------------------------------------------ the planner


def _exposures(n: int = 4000, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = [f"C{i:05d}" for i in range(n)]
    tier = rng.choice(["gold", "silver", "bronze"], n, p=[0.1, 0.3, 0.6])
    base = np.select([tier == "gold", tier == "silver"], [0.12, 0.07], 0.04)
    variant = rng.choice(["control", "offer"], n)
    exposures = pd.DataFrame(
        {
            "customer_id": ids,
            "campaign_id": rng.choice(["spring", "summer"], n),
            "variant": variant,
            "converted": (rng.random(n) < base + 0.02 * (variant == "offer")).astype(int),
        }
    )
    # the customer table has more customers than took part (the ones available for a new test)
    extra = [f"X{i:05d}" for i in range(3000)]
    customers = pd.DataFrame(
        {"tier": list(tier) + list(rng.choice(["gold", "silver", "bronze"], 3000))},
        index=pd.Index(ids + extra, name="customer_id"),
    )
    return exposures, customers


@pytest.mark.parametrize(
    ("text", "share"),
    [("20%", 0.2), ("20%", 0.2), ("0.2", 0.2), ("20", 0.2), (" 2,5% ", 0.025), ("1", 1.0)],
)
def test_planner_reads_shares_as_people_type_them(text: str, share: float) -> None:
    assert planner.parse_share(text) == pytest.approx(share)


@pytest.mark.parametrize("text", ["abc", "", "20%%", "5 percent", "1e3", "--2"])
def test_planner_says_what_nonsense_is(text: str) -> None:
    with pytest.raises(ABTestError, match=r"lift: .* is not a share; type 20%, 20 or 0\.2"):
        planner.parse_share(text, "lift")


def test_planner_typed_20_percent_is_20_percent_not_100() -> None:
    p = planner.SampleSizePlanner(baseline=0.05, mde_value=0.1)
    p.mde.text.value = "20%"
    assert p.mde.value == pytest.approx(0.2) and p.mde.slider.value == pytest.approx(0.2)
    assert f"{abtest.sample_size(0.05, 0.2):,} customers per arm" in p.output.value
    p.baseline.text.value = "0.08"
    assert p.baseline.value == pytest.approx(0.08)
    p.power.text.value = "90"
    assert p.power.value == pytest.approx(0.9)
    assert f"{abtest.sample_size(0.08, 0.2, power=0.9):,} customers per arm" in p.output.value
    p.power.text.value = "eighty"  # nonsense: said, and the last good value kept
    assert p.power.value == pytest.approx(0.9) and p.power.error is not None
    assert "power: &quot;eighty&quot; is not a share" in p.output.value
    p.power.text.value = "150%"
    assert "must be above 0% and below 100%" in p.output.value
    p.power.text.value = "80%"
    assert p.power.error is None and "customers per arm" in p.output.value


def test_planner_defaults_are_the_observed_control_conversion_per_segment() -> None:
    exposures, customers = _exposures()
    p = planner.SampleSizePlanner.from_exposures(exposures, "tier", customers=customers)
    b = p.baselines.set_index(["campaign_id", "segment"])
    joined = exposures.join(customers, on="customer_id")
    control = joined[joined["variant"] == "control"]
    observed = control.groupby(["campaign_id", "tier"])["converted"].mean()
    observed.index.names = ["campaign_id", "segment"]
    pd.testing.assert_series_equal(
        b["baseline"].sort_index(), observed.sort_index(), check_names=False
    )
    sizes = customers["tier"].value_counts()  # the customer table's, not only the exposed
    assert (b["customers"] == b.index.get_level_values("segment").map(sizes)).all()
    exposed = joined.groupby(["campaign_id", "tier"])["customer_id"].nunique()
    assert (b["exposed"].sort_index().to_numpy() == exposed.sort_index().to_numpy()).all()
    assert (b["arms"] == 2).all()
    # the planner starts from the largest segment: its baseline, arms and customers
    first = p.baselines.iloc[p.baselines["customers"].idxmax()]
    assert first["segment"] == "bronze"
    assert p.baseline.value == pytest.approx(first["baseline"])
    assert p.available.value == first["customers"] and p.arms.value == 2
    # choosing another segment starts from that one
    p.start.value = 3
    assert p.baseline.value == pytest.approx(p.baselines.iloc[3]["baseline"])
    assert p.available.value == p.baselines.iloc[3]["customers"]


def _oracle_n(baseline: float, lift: float, power: float, alpha: float) -> int:
    import math

    from statsmodels.stats.power import NormalIndPower

    p1, p2 = baseline, baseline * (1 + lift)
    es = (p2 - p1) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    return math.ceil(NormalIndPower().solve_power(es, alpha=alpha, power=power, ratio=1.0) - 1e-9)


@pytest.mark.parametrize("lift", [0.1, 0.3, 0.6])
def test_small_segment_warning_exactly_when_needed_exceeds_size(lift: float) -> None:
    exposures, customers = _exposures()
    p = planner.SampleSizePlanner.from_exposures(exposures, "tier", customers=customers)
    p.mde.value = lift
    plan = p.plan()
    for i, row in plan.iterrows():
        n = _oracle_n(row["baseline"], lift, 0.8, 0.05)
        assert row["n_per_arm"] == n
        small = n * 2 > row["customers"]
        assert bool(row["too_small"]) == small
        p.start.value = i
        assert ("Too small" in p.output.value) == small
        if small:
            assert f"{n * 2 - row['customers']:,} too few" in p.output.value
            per_arm = row["customers"] // 2
            can = abtest.mde(row["baseline"], per_arm)
            assert row["detectable"] == pytest.approx(can)
            assert f"can detect a {can:.1%}" in p.output.value
            # the effect it names is one those customers can detect: n at that lift fits
            assert abtest.sample_size(row["baseline"], can) <= per_arm + 1
        else:
            assert "enough" in p.output.value
    assert plan["too_small"].any() or lift > 0.3  # the small lifts do not fit every segment


def test_planner_from_the_campaign_result() -> None:
    from segwork.steps import campaign_ab

    exposures, customers = _exposures()
    result = campaign_ab.run(exposures, customers, segment_columns=["tier"])
    p = planner.SampleSizePlanner.from_result(result, customers=customers)
    same = planner.baselines_from_exposures(exposures, "tier", customers=customers)
    pd.testing.assert_frame_equal(p.baselines, same)
    assert "gold" in p.start.options[0][0] or "gold" in str(p.start.options)
    assert "Every segment at a 10.0% lift" in p.table.value


# ------------------------------------------------------------------ the rule builder's extras


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _czech() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Eva", "Jan", "Petr", "Ida", "Olga"],
            "region": ["Hlavní město Praha"] * 3 + ["Jihomoravský kraj", None],
            "revenue_365d": [60_000.0, 10_000.0, 90_000.0, 70_000.0, 5.0],
        },
        index=pd.Index(["C1", "C2", "C3", "C4", "C5"], name="customer_id"),
    )


def test_errors_wait_for_a_pause_in_typing() -> None:
    clock = _Clock()
    b = RuleBuilder(_czech(), delay=0.5, clock=clock, timer=None)
    b.rule.value = 'region == "Praha"'
    assert "no such value in region" in b.error  # known at once ...
    assert b.message.value == ""  # ... shown only after the pause
    clock.now += 0.3
    assert not b.debounce.poll() and b.message.value == ""
    b.rule.value = 'region == "Prahaa"'  # typing again restarts the wait
    clock.now += 0.3
    assert not b.debounce.poll() and b.message.value == ""
    clock.now += 0.25
    assert b.debounce.poll()
    assert "did you mean &quot;Hlavní město Praha&quot;?" in b.message.value  # escaped HTML
    # a valid rule: the count follows the keystroke, the error line is cleared at once
    b.rule.value = 'region == "Hlavní město Praha"'
    assert b.error is None and "<b>3</b> of 5" in b.count.value and b.message.value == ""
    # warnings (a number outside the column's values) also wait for the pause
    b.rule.value = "revenue_365d > 100000"
    assert b.members is not None and b.message.value == "" and b.warnings
    clock.now += 1
    b.debounce.poll()
    assert "outside the values revenue_365d holds" in b.message.value


def test_debounce_with_a_real_timer_shows_errors_after_the_pause() -> None:
    import threading

    shown = threading.Event()
    b = RuleBuilder(_czech(), delay=0.05)
    b.message.observe(lambda change: shown.set() if change["new"] else None, names="value")
    b.rule.value = "revenu_365d > 1"
    assert shown.wait(5)
    assert "revenue_365d" in b.message.value


def test_value_list_follows_the_column_and_inserts_a_quoted_value() -> None:
    from segwork.widgets.rules import insert_value, last_column

    b = RuleBuilder(_czech(), delay=0)
    b.rule.value = "revenue_365d > 1000 and region == "
    assert b.column.value == "region"
    assert b.value_list.options[0] == ("Hlavní město Praha (3)", "Hlavní město Praha")
    b.value_list.value = "Jihomoravský kraj"
    b.insert_selected()
    assert b.rule.value == 'revenue_365d > 1000 and region == "Jihomoravský kraj"'
    assert b.members.tolist() == [False, False, False, True, False]
    # a value being typed is replaced; a finished rule gets "and column == value"
    assert insert_value('region == "Hla', "region", "Hlavní město Praha") == (
        'region == "Hlavní město Praha"'
    )
    assert insert_value("region in [", "region", 'a "b"') == 'region in ["a \\"b\\""'
    assert insert_value("revenue_365d > 5", "region", "X") == 'revenue_365d > 5 and region == "X"'
    assert insert_value("", "account manager", "Eva") == '`account manager` == "Eva"'
    assert last_column('region == "revenue_365d is" and ', ["region", "revenue_365d"]) == "region"


def test_builder_gives_the_finished_rule_as_yaml_for_the_segments_file(tmp_path) -> None:
    from segwork import rules

    b = RuleBuilder(_czech(), delay=0)
    assert b.yaml is None
    b.rule.value = 'region == "Hlavní město Praha" and revenue_365d > 50000'
    b.name.value = "Praha: big spenders"
    b.description.value = "Bought over 50,000 in the last year"
    assert b.yaml is not None and "Paste under <code>rules:</code>" in b.yaml_box.value
    path = tmp_path / "segments.yaml"
    path.write_text("rules:\n" + b.yaml, encoding="utf-8")
    (saved,) = rules.read_rules(path)
    assert saved.name == "Praha: big spenders"
    assert saved.rule == rules.parse(b.rule.value)
    assert saved.rule.mask(b.customers).tolist() == b.members.tolist()
    b.rule.value = 'region == "Praha"'  # an error: no YAML to paste
    assert b.yaml is None and "appears when the rule has no errors" in b.yaml_box.value


def test_grouped_segments_take_sizes_where_the_label_is_a_value() -> None:
    exposures, customers = _exposures()
    b = planner.baselines_from_exposures(exposures, "tier", customers=customers, max_segments=2)
    sizes = customers["tier"].value_counts()
    bronze = b[b["segment"] == "bronze"]
    other = b[b["segment"] != "bronze"]
    assert len(bronze) == 2 and (bronze["customers"] == sizes["bronze"]).all()
    assert len(other) == 2 and other["segment"].str.startswith("other").all()
    assert (other["customers"] == other["exposed"]).all()  # not a value: the exposed customers
