"""Onboarding: a better programme activates more accounts and lowers churn, at a cost."""

from __future__ import annotations

from mech_runs import totals


def test_better_onboarding_lowers_churn() -> None:
    base = totals([], months=18)
    better = totals(["scenario=better_onboarding"], months=18)
    assert better["activations"].sum() > base["activations"].sum()
    assert better["activation_failures"].sum() < base["activation_failures"].sum()
    rate = lambda m: m["churned_customers"].sum() / m["customers"].sum()  # noqa: E731
    assert rate(better) < rate(base)
    assert better["onboarding_cost"].sum() > base["onboarding_cost"].sum()
