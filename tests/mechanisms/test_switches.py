"""Mechanism switches, in one place: each switch turns its steps, hooks and flows off; with all
off only base churn acts."""

from __future__ import annotations

import pandas as pd
import pytest
from mech_runs import totals
from sizes import TINY

from simulator import JourneyModel, load_config
from simulator.mechanisms import ALL, MECHANISMS
from simulator.model import STEPS

# A small market with a thin desk and keen referrers, so every flow moves within a year.
BUSY = [
    # 36 months of default channel spend would have reached all of a 30,000-account market: no
    # pipeline in flight, so that word of mouth has unaware accounts to reach.
    "initial.pipeline=false",
    "support.agents=1",
    *(f"personas.{k}.referrals.per_advocate=5" for k in ("solo", "smb", "midmarket")),
    *(f"personas.{k}.advocacy.rate=0.3" for k in ("solo", "smb", "midmarket")),
]

#: Switch -> the columns it alone moves. ``price_effect`` has no flow of its own (it moves
#: health: ``test_pricing``).
FLOWS_BY_SWITCH = {
    "expansion": ["expansion_mrr", "upgrades", "seat_expansions", "downgrades"],
    "reactivation": ["reactivated_customers", "reactivation_mrr"],
    "referrals": ["referral_cost", "referrals", "new_advocates", "n_advocate"],
    "support": ["tickets", "sla_breaches", "support_cost", "accounts_breached"],
    "success": ["success_cost", "accounts_worked"],
    "involuntary_churn": ["churned_involuntary"],
    "annual_contracts": ["renewals_due", "renewals", "renewal_offers"],
    "onboarding": ["onboarding_cost", "activation_failures", "n_onboarding"],
    "acquisition": ["prospects", "new_customers", "acquisition_cost", "n_consideration"],
}


@pytest.fixture(scope="module")
def baseline() -> pd.DataFrame:
    return totals(BUSY)


def test_every_switch_is_tested() -> None:
    assert set(FLOWS_BY_SWITCH) | {"price_effect"} == set(MECHANISMS)


@pytest.mark.parametrize(("switch", "columns"), list(FLOWS_BY_SWITCH.items()))
def test_mechanism_switch_turns_its_flows_off(
    baseline: pd.DataFrame, switch: str, columns: list[str]
) -> None:
    off = totals([*BUSY, f"mechanisms.{switch}=false"])
    for col in columns:
        assert baseline[col].sum() > 0, f"{col} is 0 even with {switch} on"
        assert off[col].sum() == 0, f"{col} moves with {switch} off"


@pytest.mark.parametrize("switch", MECHANISMS)
def test_switch_is_checked_once_in_the_step_table(switch: str) -> None:
    """Off, a mechanism's steps are not run and its hooks are not called; on, they are."""
    owner = next(m for m in ALL if switch in m.switches)
    on = JourneyModel(load_config(TINY))
    off = JourneyModel(load_config([*TINY, f"mechanisms.{switch}=false"]))
    assert on.active_steps == STEPS
    if owner.switch == switch:  # the switch turns the whole mechanism off
        assert [s for s in STEPS if s not in off.active_steps] == [
            s for s in STEPS if s.mechanism is owner
        ]
        for hook in (owner.on_paying_start, owner.on_paying_end):
            if hook is not None:
                assert hook in on.paying_start_hooks + on.paying_end_hooks
                assert hook not in off.paying_start_hooks + off.paying_end_hooks
    else:  # an option: it changes how its mechanism works, every step still runs
        assert off.active_steps == STEPS


def test_contraction_needs_expansion_or_renewal_discounts(baseline: pd.DataFrame) -> None:
    """Contraction MRR comes from downgrades and seat cuts (expansion) and from at-risk
    renewal discounts (annual contracts); with both off and no price event, it is 0."""
    assert baseline["contraction_mrr"].sum() > 0
    off = totals([*BUSY, "mechanisms.expansion=false", "mechanisms.annual_contracts=false"])
    assert off["contraction_mrr"].sum() == 0
    assert off["seat_contractions"].sum() == 0


def test_all_off_leaves_only_base_churn() -> None:
    m = totals(["mechanisms=all_off"])
    moving = ["new_customers", "expansion_mrr", "contraction_mrr", "reactivated_customers"]
    moving += ["tickets", "referral_cost", "renewals_due", "churned_involuntary", "prospects"]
    assert (m[moving].to_numpy() == 0).all()
    assert m["churned_voluntary"].sum() > 0
