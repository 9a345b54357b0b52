"""gbstats oracle: run GrowthBook's frequentist tests on summary statistics; JSON in, JSON out.

Runs INSIDE the side environment of tests/oracles/gbstats/requirements.txt (gbstats 0.8.0 needs
numpy<2 and pandas<2), started by tests/oracle_env.py as ``python -I run.py < cases.json``.

stdin: a JSON list of cases, each
  {"id": any, "test": "sequential" | "fixed",
   "control": arm, "treatment": arm,
   "alpha": float, "difference_type": "absolute" | "relative",
   "sequential_tuning_parameter": float (sequential only)}
with arm = {"n": int, "sum": float} for a proportion (gbstats' ProportionStatistic, variance
p(1 - p)) or {"n": int, "sum": float, "sum_squares": float} for a mean (SampleMeanStatistic,
variance with n - 1).

stdout: a JSON object {"gbstats": version, "results": [...]}, one result per case in order:
  {"id", "low", "high", "estimate", "variance", "p_value", "error_message",
   "var_control", "var_treatment", "rho" (sequential) or "dof" (fixed)}
``low``/``high``/``estimate`` come from gbstats' own ``compute_result()`` (its public path,
including its refusals: a zero control mean or a zero variance gives [0, 0] and a message).
"""

from __future__ import annotations

import json
import sys

import gbstats
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic


def _statistic(arm: dict) -> ProportionStatistic | SampleMeanStatistic:
    if "sum_squares" in arm:
        return SampleMeanStatistic(
            n=int(arm["n"]), sum=float(arm["sum"]), sum_squares=float(arm["sum_squares"])
        )
    return ProportionStatistic(n=int(arm["n"]), sum=float(arm["sum"]))


def _run(case: dict) -> dict:
    stat_a, stat_b = _statistic(case["control"]), _statistic(case["treatment"])
    common = {"alpha": float(case["alpha"]), "difference_type": case["difference_type"]}
    if case["test"] == "sequential":
        test = SequentialTwoSidedTTest(
            stat_a,
            stat_b,
            SequentialConfig(
                **common, sequential_tuning_parameter=float(case["sequential_tuning_parameter"])
            ),
        )
        extra = {"rho": float(test.rho)}
    elif case["test"] == "fixed":
        test = TwoSidedTTest(stat_a, stat_b, FrequentistConfig(**common))
        extra = {"dof": float(test.dof)}
    else:
        raise ValueError(f"case {case.get('id')!r}: unknown test {case['test']!r}")
    result = test.compute_result()
    return {
        "id": case.get("id"),
        "low": float(result.ci[0]),
        "high": float(result.ci[1]),
        "estimate": float(result.expected),
        "variance": float(test.variance),
        "p_value": float(result.p_value),
        "error_message": result.error_message,
        "var_control": float(stat_a.variance),
        "var_treatment": float(stat_b.variance),
        **extra,
    }


def main() -> None:
    cases = json.load(sys.stdin)
    json.dump({"gbstats": gbstats.__version__, "results": [_run(c) for c in cases]}, sys.stdout)


if __name__ == "__main__":
    main()
