"""Billing and renewal: a bigger annual discount moves more accounts to annual terms."""

from __future__ import annotations

from mech_runs import totals


def test_annual_push_moves_more_accounts_to_annual_terms() -> None:
    base = totals([], months=18)
    push = totals(["scenario=annual_push"], months=18)
    assert push["renewals_due"].sum() > base["renewals_due"].sum()
