"""Output columns, defined once by name. The monthly table, summaries, plots and reports read
these definitions; nothing else names an output column.

Prefixes say what a number is: ``n_`` a stock at the end of the month (accounts), ``*_mrr`` a
$/month change of recurring revenue in the month, ``*_cost`` and ``revenue`` $ in the month.
"""

from __future__ import annotations

from simulator.stages import STAGE_NAMES

KEY_COLUMNS: tuple[str, ...] = ("scenario", "replication", "month", "persona")

#: Stage counts at the end of the month (accounts).
STAGE_COLUMNS: tuple[str, ...] = tuple(f"n_{s}" for s in STAGE_NAMES)

#: Flow and money columns: name -> meaning (units).
FLOW_COLUMNS: dict[str, str] = {
    "new_customers": "accounts that bought this month (accounts)",
    "churned_customers": "accounts that churned this month, voluntary + involuntary (accounts)",
    "churned_voluntary": "accounts that chose to leave (accounts)",
    "churned_involuntary": "accounts lost to failed payments after dunning (accounts)",
    "reactivated_customers": "churned accounts won back (accounts)",
    "mrr_start": "MRR at the start of the month ($/month)",
    "new_mrr": "MRR of new customers ($/month)",
    "expansion_mrr": "MRR added by upgrades, seats and price rises ($/month)",
    "reactivation_mrr": "MRR of won-back customers ($/month)",
    "contraction_mrr": "MRR removed by downgrades, seat cuts, price cuts and discounts ($/month)",
    "churned_mrr": "MRR of churned customers ($/month)",
    "mrr_end": "MRR at the end of the month ($/month)",
    "revenue": "cash billed this month ($)",
    "acquisition_cost": "channel spend and sales cost ($)",
    "onboarding_cost": "onboarding programme cost ($)",
    "support_cost": "support desk cost, allocated by tickets ($)",
    "success_cost": "customer-success cost, allocated by accounts worked ($)",
    "cogs": "cost of goods sold: hosting per account and seat, payment fees ($)",
    "referral_cost": "referral rewards paid ($)",
    "tickets": "tickets reaching the support desk after knowledge-base deflection",
    "sla_breaches": "tickets whose first response missed the SLA",
    "accounts_breached": "accounts with an SLA breach this month (accounts)",
    "prospects": "unaware accounts that started evaluating (accounts)",
    "referrals": "prospects that came through the referral programme (accounts)",
    "nurtured": "lost prospects brought back into consideration (accounts)",
    "prospects_lost": "evaluators that dropped out (accounts)",
    "decisions_started": "evaluators that started a trial, demo or free tier (accounts)",
    "decisions": "trials / sales cycles / free users that decided this month (accounts)",
    "activations": "onboarded accounts that reached activation (accounts)",
    "activation_failures": "onboarded accounts that did not reach activation (accounts)",
    "upgrades": "tier upgrades (accounts)",
    "seat_expansions": "seat additions (accounts)",
    "downgrades": "tier downgrades (accounts)",
    "seat_contractions": "seat reductions (accounts)",
    "renewals_due": "annual contracts at term end (accounts)",
    "renewals": "annual contracts renewed (accounts)",
    "renewal_offers": "renewals that took an at-risk discount (accounts)",
    "new_advocates": "customers that became promoters (accounts)",
    "accounts_worked": "at-risk accounts worked by customer success (accounts)",
    "at_risk": "paying accounts with health below the at-risk threshold (accounts)",
    "seats": "seats of paying accounts at the end of the month",
    "mrr_12m_ago": "MRR 12 months ago of the accounts paying then ($/month; 0 before month 13)",
    "retained_mrr_12m": "today's MRR of those accounts ($/month)",
    "gross_retained_mrr_12m": "today's MRR of those accounts, each capped at its MRR then",
}

#: Columns derived from others after the run.
DERIVED_COLUMNS: dict[str, str] = {
    "customers": "paying accounts at the end of the month: onboarding + active + advocate",
    "arr": "annual recurring revenue = 12 × mrr_end ($/year)",
}

MONTHLY_COLUMNS: tuple[str, ...] = (
    KEY_COLUMNS + STAGE_COLUMNS + tuple(FLOW_COLUMNS) + tuple(DERIVED_COLUMNS)
)

#: Money columns summed into total cost.
COST_COLUMNS: tuple[str, ...] = (
    "acquisition_cost",
    "onboarding_cost",
    "support_cost",
    "success_cost",
    "cogs",
    "referral_cost",
)

#: The MRR bridge: mrr_end = mrr_start + sum(plus) - sum(minus), in every row.
BRIDGE_PLUS: tuple[str, ...] = ("new_mrr", "expansion_mrr", "reactivation_mrr")
BRIDGE_MINUS: tuple[str, ...] = ("contraction_mrr", "churned_mrr")
