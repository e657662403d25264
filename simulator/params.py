"""Validated, typed parameters read from a composed scenario config.

This is the one place where config values are read, checked and given units. Every check names
the full key and its allowed range; all problems are collected and raised together as one
``ConfigError`` before any simulation work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from simulator.errors import ConfigError
from simulator.mechanisms import EVENT_TYPES, MECHANISMS, SUPPORT_CHANNELS
from simulator.metrics import DEFAULT_DISCOUNT_RATE
from simulator.stages import DecisionPath

INF = math.inf


class _Reader:
    """Reads values from a plain nested dict by dotted key, collecting problems."""

    def __init__(self, tree: dict[str, Any]):
        self.tree = tree
        self.problems: list[tuple[str, str]] = []
        #: Keys whose value was read (a setting); keys read as a mapping of names are not.
        self.settings: set[str] = set()
        #: Keys read as a mapping of names (personas, plans, events, ...).
        self.containers: set[str] = set()

    def raw(self, key: str) -> Any:
        node: Any = self.tree
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(key)
            node = node[part]
        return node

    def mark(self, key: str) -> None:
        """Record ``key`` as a setting that was read (for keys read straight from the tree)."""
        self.settings.add(key)

    def unknown_keys(self, ignore: tuple[str, ...] = ("hydra",)) -> None:
        """Report every key of the tree that no setting was read from: a typo or a key added
        with ``+`` that nothing uses would otherwise be ignored without a word."""

        def walk(node: dict[str, Any], prefix: str) -> None:
            for name, value in node.items():
                key = f"{prefix}{name}"
                if key in self.settings or key in ignore:
                    continue
                if isinstance(value, dict):  # an empty mapping sets nothing
                    walk(value, key + ".")
                    continue
                siblings = sorted(
                    {
                        k[len(prefix) :].split(".")[0]
                        for k in self.settings | self.containers
                        if k.startswith(prefix)
                    }
                )
                allowed = f"; allowed here: {', '.join(siblings)}" if siblings else ""
                self.fail(key, f"unknown key{allowed}")

        walk(self.tree, "")

    def has(self, key: str) -> bool:
        try:
            self.raw(key)
        except KeyError:
            return False
        return True

    def fail(self, key: str, msg: str) -> None:
        self.problems.append((key, msg))

    _MISSING = object()

    def lookup(self, key: str, default: Any = None) -> Any:
        """The value at ``key``; ``default`` when absent and a default is given, else a
        "missing" problem and the ``_MISSING`` sentinel."""
        self.settings.add(key)
        try:
            return self.raw(key)
        except KeyError:
            if default is not None:
                return default
            self.fail(key, "missing")
            return self._MISSING

    def number(
        self,
        key: str,
        lo: float = -INF,
        hi: float = INF,
        *,
        integer: bool = False,
        default: float | None = None,
        lo_open: bool = False,
    ) -> float:
        """A number in [lo, hi] (or (lo, hi] with lo_open); returns a safe fallback on error."""
        fallback = default if default is not None else (lo if math.isfinite(lo) else 0.0)
        value = self.lookup(key, default)
        if value is self._MISSING:
            return fallback
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "a whole number" if integer else "a number"
            self.fail(key, f"must be {kind}, got {value!r}")
            return fallback
        if integer and float(value) != int(value):
            self.fail(key, f"must be a whole number, got {value!r}")
            return fallback
        bad_lo = value <= lo if lo_open else value < lo
        if math.isnan(value) or bad_lo or value > hi:
            left = "(" if lo_open else "["
            hi_s = "inf" if hi == INF else f"{hi:g}"
            self.fail(key, f"must be in {left}{lo:g}, {hi_s}], got {value!r}")
            return fallback
        return int(value) if integer else float(value)

    def prob(self, key: str, default: float | None = None) -> float:
        return self.number(key, 0.0, 1.0, default=default)

    def boolean(self, key: str, default: bool | None = None) -> bool:
        value = self.lookup(key, default)
        if value is self._MISSING:
            return False
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
            return False
        return value

    def choice(self, key: str, allowed: tuple[str, ...] | list[str]) -> str:
        value = self.lookup(key)
        if value is self._MISSING:
            return allowed[0]
        if value not in allowed:
            self.fail(key, f"must be one of {', '.join(map(str, allowed))}; got {value!r}")
            return allowed[0]
        return str(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.lookup(key)
        self.settings.discard(key)  # its entries are read (and checked) one by one
        self.containers.add(key)
        if value is self._MISSING:
            return {}
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping keyed by name, got {type(value).__name__}")
            return {}
        return value


@dataclass(frozen=True)
class PlanParams:
    """One pricing plan. ``price`` is $ per month, per seat when ``per_seat``, else per account."""

    name: str
    price: float
    per_seat: bool
    rank: int


@dataclass(frozen=True)
class OnboardingPath:
    """An onboarding programme: duration (months), activation probability, cost ($/account)."""

    name: str
    months: int
    quality: float
    cost: float


@dataclass(frozen=True)
class PersonaParams:
    """One persona (segment). Rates are monthly probabilities; money is $ per month."""

    name: str
    index: int
    share: float
    seats_mean: float
    willingness_to_pay: float  # $ per seat per month
    price_sensitivity: float  # utility per unit of price / willingness to pay
    price_multiplier: float
    plan_value: tuple[float, ...]  # utility per plan, in plan order
    outside_utility: float
    channel_weight: dict[str, float]
    consider_advance: float
    consider_drop: float
    nurture: float
    decision_path: DecisionPath
    decision_months: int
    card_required: bool
    card_start_factor: float
    card_utility: float
    sales_cost: float  # $ per prospect entering a demo / sales cycle
    free_value: float
    free_drop: float
    onboarding_path: str
    churn_mean: float
    churn_concentration: float | None
    tickets_per_month: float  # tickets per paying account per month, before deflection
    channel_mix: dict[str, float]
    expansion_rate: float
    upgrade_share: float
    seats_growth: float
    contraction_rate: float
    downgrade_share: float
    annual_logit: float
    annual_discount_sensitivity: float
    advocacy_rate: float
    referrals_per_advocate: float
    winback_rate: float
    winback_window_months: int


@dataclass(frozen=True)
class EventParams:
    """A scheduled event (applied at the start of ``month``)."""

    name: str
    type: str
    month: int
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioParams:
    """Every parameter of a scenario, validated. Built by :func:`read_params`."""

    scenario_name: str
    seed: int
    months: int
    replications: int
    market_size: int
    initial_customers: int
    initial_annual_share: float | None
    mechanisms: dict[str, bool]
    personas: tuple[PersonaParams, ...]
    plans: tuple[PlanParams, ...]
    annual_discount: float
    payment_failure_rate: float
    dunning_recovery: float
    cogs_per_account: float
    cogs_per_seat: float
    payment_fee: float
    onboarding_paths: dict[str, OnboardingPath]
    bass_p: float
    bass_q: float
    advocate_weight: float
    referral_reward: float
    referral_utility: float
    referral_advance_multiplier: float
    channels: dict[str, tuple[float, float]]  # name -> (spend $/month, cost per lead $)
    support: dict[str, Any]
    success: dict[str, float]
    health: dict[str, float]
    renewal: dict[str, float]
    advocacy: dict[str, float]
    events: tuple[EventParams, ...]
    executor_kind: str
    executor_workers: int
    progress: str
    output_csv: bool
    output_plots: bool
    discount_rate: float  # annual, for the discounted LTV

    @property
    def plan_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.plans)

    @property
    def persona_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.personas)


def _read_persona(
    r: _Reader, name: str, index: int, plans: tuple[PlanParams, ...], tree: dict[str, Any]
) -> PersonaParams:
    k = f"personas.{name}"
    plan_names = [p.name for p in plans]
    values = r.mapping(f"{k}.plan_value")
    for extra in sorted(set(values) - set(plan_names)):
        r.fail(f"{k}.plan_value.{extra}", f"unknown plan; plans are {', '.join(plan_names)}")
    plan_value = tuple(r.number(f"{k}.plan_value.{p}", -50, 50) for p in plan_names)

    channel_names = list(r.mapping("acquisition.channels"))
    weights = r.mapping(f"{k}.channels")
    for extra in sorted(set(weights) - set(channel_names)):
        r.fail(f"{k}.channels.{extra}", f"unknown channel; channels are {', '.join(channel_names)}")
    channel_weight = {c: r.number(f"{k}.channels.{c}", 0, INF, default=0.0) for c in channel_names}

    mix_tree = r.mapping(f"{k}.support.channel_mix")
    for extra in sorted(set(mix_tree) - set(SUPPORT_CHANNELS)):
        r.fail(f"{k}.support.channel_mix.{extra}", "unknown support channel (chat, email, phone)")
    mix = {c: r.prob(f"{k}.support.channel_mix.{c}", default=0.0) for c in SUPPORT_CHANNELS}
    if mix_tree and abs(sum(mix.values()) - 1.0) > 1e-6:
        r.fail(f"{k}.support.channel_mix", f"shares must sum to 1, got {sum(mix.values()):g}")

    paths = list(r.mapping("onboarding.paths"))
    onboarding_path = r.choice(f"{k}.onboarding", paths or ["<none>"])
    path_name = r.choice(f"{k}.decision.path", [p.name.lower() for p in DecisionPath])

    advance = r.prob(f"{k}.consideration.advance")
    drop = r.prob(f"{k}.consideration.drop")
    if advance + drop > 1 + 1e-12:
        r.fail(f"{k}.consideration", f"advance + drop must be <= 1, got {advance + drop:g}")
    expansion = r.prob(f"{k}.expansion.rate")
    contraction = r.prob(f"{k}.contraction.rate")
    if expansion + contraction > 1 + 1e-12:
        r.fail(f"{k}.expansion.rate", "expansion.rate + contraction.rate must be <= 1")

    concentration_raw = tree.get("churn", {}).get("concentration") if tree else None
    r.mark(f"{k}.churn.concentration")
    concentration = (
        None
        if concentration_raw is None
        else r.number(f"{k}.churn.concentration", 0, INF, lo_open=True)
    )
    return PersonaParams(
        name=name,
        index=index,
        share=r.number(f"{k}.share", 0, 1),
        seats_mean=r.number(f"{k}.seats.mean", 1, 10000),
        willingness_to_pay=r.number(f"{k}.willingness_to_pay", 0, INF, lo_open=True),
        price_sensitivity=r.number(f"{k}.price_sensitivity", 0, 100),
        price_multiplier=r.number(f"{k}.price_multiplier", 0, 10),
        plan_value=plan_value,
        outside_utility=r.number(f"{k}.outside_utility", -50, 50),
        channel_weight=channel_weight,
        consider_advance=advance,
        consider_drop=drop,
        nurture=r.prob(f"{k}.consideration.nurture"),
        decision_path=DecisionPath[path_name.upper()],
        decision_months=r.number(f"{k}.decision.months", 0, 24, integer=True),
        card_required=r.boolean(f"{k}.decision.card_required", default=False),
        card_start_factor=r.prob(f"{k}.decision.card_start_factor", default=1.0),
        card_utility=r.number(f"{k}.decision.card_utility", -20, 20, default=0.0),
        sales_cost=r.number(f"{k}.decision.sales_cost", 0, INF, default=0.0),
        free_value=r.number(f"{k}.decision.free_value", -20, 20, default=0.0),
        free_drop=r.prob(f"{k}.decision.free_drop", default=0.0),
        onboarding_path=onboarding_path,
        churn_mean=r.prob(f"{k}.churn.mean"),
        churn_concentration=concentration,
        tickets_per_month=r.number(f"{k}.support.tickets_per_month", 0, 1000),
        channel_mix=mix,
        expansion_rate=expansion,
        upgrade_share=r.prob(f"{k}.expansion.upgrade_share"),
        seats_growth=r.number(f"{k}.expansion.seats_growth", 0, 10),
        contraction_rate=contraction,
        downgrade_share=r.prob(f"{k}.contraction.downgrade_share"),
        annual_logit=r.number(f"{k}.annual.logit", -50, 50),
        annual_discount_sensitivity=r.number(f"{k}.annual.discount_sensitivity", 0, 1000),
        advocacy_rate=r.prob(f"{k}.advocacy.rate"),
        referrals_per_advocate=r.number(f"{k}.referrals.per_advocate", 0, 100),
        winback_rate=r.prob(f"{k}.winback.rate"),
        winback_window_months=r.number(f"{k}.winback.window_months", 0, 1200, integer=True),
    )


def _read_events(r: _Reader, tree: dict[str, Any], scen: dict[str, Any]) -> tuple[EventParams, ...]:
    events = []
    plans = list(scen["plans"])
    paths = list(scen["paths"])
    channels = list(scen["channels"])
    for name in r.mapping("events"):
        k = f"events.{name}"
        etype = r.choice(f"{k}.type", EVENT_TYPES)
        month = r.number(f"{k}.month", 1, 100000, integer=True)
        values: dict[str, Any] = {}
        if etype == "price_change":
            values["plan"] = r.choice(f"{k}.plan", plans)
            values["price"] = r.number(f"{k}.price", 0, INF)
            values["grandfather"] = r.boolean(f"{k}.grandfather", default=False)
        elif etype == "support_capacity":
            values["agents"] = r.number(f"{k}.agents", 0, 1_000_000, integer=True)
        elif etype == "success_capacity":
            values["csms"] = r.number(f"{k}.csms", 0, 1_000_000, integer=True)
        elif etype == "campaign":
            values["channel"] = r.choice(f"{k}.channel", channels)
            values["spend"] = r.number(f"{k}.spend", 0, INF)
            values["months"] = r.number(f"{k}.months", 1, 100000, integer=True)
        elif etype == "onboarding_quality":
            values["path"] = r.choice(f"{k}.path", paths)
            values["quality"] = r.prob(f"{k}.quality")
        events.append(EventParams(name=name, type=etype, month=month, values=values))
    return tuple(sorted(events, key=lambda e: (e.month, e.name)))


def read_params(cfg: DictConfig | dict[str, Any]) -> ScenarioParams:
    """Validate a composed config and return typed parameters.

    Raises:
        ConfigError: listing every invalid key with its allowed range.
    """
    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    assert isinstance(tree, dict)
    r = _Reader(tree)

    mech_tree = r.mapping("mechanisms")
    for extra in sorted(set(mech_tree) - set(MECHANISMS)):
        r.fail(f"mechanisms.{extra}", f"unknown mechanism; mechanisms are {', '.join(MECHANISMS)}")
    mechanisms = {m: r.boolean(f"mechanisms.{m}") for m in MECHANISMS}

    plans_list = []
    for name in r.mapping("pricing.plans"):
        k = f"pricing.plans.{name}"
        plans_list.append(
            PlanParams(
                name=name,
                price=r.number(f"{k}.price", 0, INF),
                per_seat=r.boolean(f"{k}.per_seat", default=True),
                rank=r.number(f"{k}.rank", 0, 1000, integer=True),
            )
        )
    if not plans_list:
        r.fail("pricing.plans", "at least one plan is needed")
    plans = tuple(sorted(plans_list, key=lambda p: (p.rank, p.name)))
    if len({p.rank for p in plans}) != len(plans):
        r.fail("pricing.plans", "every plan needs a distinct rank")

    paths = {}
    for name in r.mapping("onboarding.paths"):
        k = f"onboarding.paths.{name}"
        paths[name] = OnboardingPath(
            name=name,
            months=r.number(f"{k}.months", 0, 120, integer=True),
            quality=r.prob(f"{k}.quality"),
            cost=r.number(f"{k}.cost", 0, INF),
        )

    channels = {}
    for name in r.mapping("acquisition.channels"):
        k = f"acquisition.channels.{name}"
        channels[name] = (
            r.number(f"{k}.spend", 0, INF),
            r.number(f"{k}.cost_per_lead", 0, INF, lo_open=True),
        )

    persona_tree = r.mapping("personas")
    if not persona_tree:
        r.fail("personas", "at least one persona is needed")
    personas = tuple(
        _read_persona(r, name, i, plans, persona_tree.get(name) or {})
        for i, name in enumerate(persona_tree)
    )
    total_share = sum(p.share for p in personas)
    if personas and abs(total_share - 1.0) > 1e-6:
        shares = ", ".join(f"{p.name}={p.share:g}" for p in personas)
        r.fail("personas.*.share", f"shares must sum to 1, got {total_share:g} ({shares})")

    support_channels = r.mapping("support.channels")
    for extra in sorted(set(support_channels) - set(SUPPORT_CHANNELS)):
        r.fail(f"support.channels.{extra}", "unknown support channel (chat, email, phone)")
    support = {
        "agents": r.number("support.agents", 0, 1_000_000, integer=True),
        "cost_per_agent": r.number("support.cost_per_agent", 0, INF),
        "hours_per_month": r.number("support.hours_per_month", 0, 744, lo_open=True),
        "deflection": r.prob("support.knowledge_base_deflection"),
        "handle_hours": {
            c: r.number(f"support.channels.{c}.handle_minutes", 0, 10000, lo_open=True) / 60.0
            for c in SUPPORT_CHANNELS
        },
        "sla_hours": {
            c: r.number(f"support.channels.{c}.sla_hours", 0, 10000) for c in SUPPORT_CHANNELS
        },
    }
    success = {
        "csms": r.number("success.csms", 0, 1_000_000, integer=True),
        "accounts_per_csm": r.number("success.accounts_per_csm", 0, 100000, integer=True),
        "cost_per_csm": r.number("success.cost_per_csm", 0, INF),
        "min_mrr": r.number("success.min_mrr", 0, INF),
        "health_boost": r.number("success.health_boost", 0, 100),
    }
    health = {
        "decay": r.prob("health.decay"),
        "churn_sensitivity": r.number("health.churn_sensitivity", 0, 100),
        "activation_bonus": r.number("health.activation_bonus", 0, 100),
        "activation_failure_penalty": r.number("health.activation_failure_penalty", 0, 100),
        "sla_breach_penalty": r.number("health.sla_breach_penalty", 0, 100),
        "support_resolved_bonus": r.number("health.support_resolved_bonus", 0, 100),
        "price_gap_penalty": r.number("health.price_gap_penalty", 0, 100),
        "price_increase_penalty": r.number("health.price_increase_penalty", 0, 100),
        "at_risk_threshold": r.number("health.at_risk_threshold", -100, 100),
        "promoter_threshold": r.number("health.promoter_threshold", -100, 100),
    }
    renewal = {
        "term_months": r.number("renewal.term_months", 1, 120, integer=True),
        "at_risk_discount": r.prob("renewal.at_risk_discount"),
        "offer_save_rate": r.prob("renewal.offer_save_rate"),
    }
    advocacy = {
        "min_tenure_months": r.number("advocacy.min_tenure_months", 0, 1200, integer=True),
        "review_rate": r.number("advocacy.review_rate", 0, 100),
        "negative_review_rate": r.number("advocacy.negative_review_rate", 0, 100),
        "reputation_prior_reviews": r.number(
            "advocacy.reputation_prior_reviews", 0, INF, lo_open=True
        ),
        "reputation_prior_rating": r.prob("advocacy.reputation_prior_rating"),
        "reputation_weight": r.number("advocacy.reputation_weight", 0, 100),
    }

    annual_share_raw = tree.get("initial", {}).get("annual_share")
    r.mark("initial.annual_share")
    annual_share = None if annual_share_raw is None else r.prob("initial.annual_share")
    market_size = r.number("market.size", 1, 200_000_000, integer=True)
    initial_customers = r.number("initial.customers", 0, 200_000_000, integer=True)
    if initial_customers > market_size:
        r.fail(
            "initial.customers", f"must be <= market.size ({market_size}), got {initial_customers}"
        )

    progress_raw = tree.get("progress", "auto")
    r.mark("progress")
    r.mark("scenario_name")
    progress = str(progress_raw).lower() if progress_raw is not None else "auto"
    if progress not in ("auto", "true", "false"):
        r.fail("progress", f"must be auto, true or false; got {progress_raw!r}")

    events = _read_events(
        r,
        tree,
        {"plans": [p.name for p in plans], "paths": list(paths), "channels": list(channels)},
    )
    params = ScenarioParams(
        scenario_name=str(tree.get("scenario_name", "baseline")),
        seed=r.number("seed", 0, 2**63 - 1, integer=True),
        months=r.number("months", 1, 1200, integer=True),
        replications=r.number("replications", 1, 100000, integer=True),
        market_size=market_size,
        initial_customers=initial_customers,
        initial_annual_share=annual_share,
        mechanisms=mechanisms,
        personas=personas,
        plans=plans,
        annual_discount=r.number("pricing.annual_discount", 0, 1, lo_open=False),
        payment_failure_rate=r.prob("pricing.billing.payment_failure_rate"),
        dunning_recovery=r.prob("pricing.billing.dunning_recovery"),
        cogs_per_account=r.number("pricing.cogs.per_account", 0, INF),
        cogs_per_seat=r.number("pricing.cogs.per_seat", 0, INF),
        payment_fee=r.prob("pricing.cogs.payment_fee"),
        onboarding_paths=paths,
        bass_p=r.prob("acquisition.bass.p"),
        bass_q=r.number("acquisition.bass.q", 0, 10),
        advocate_weight=r.number("acquisition.advocate_weight", 0, 1000),
        referral_reward=r.number("acquisition.referral_reward", 0, INF),
        referral_utility=r.number("acquisition.referral_utility", -20, 20),
        referral_advance_multiplier=r.number("acquisition.referral_advance_multiplier", 0, 100),
        channels=channels,
        support=support,
        success=success,
        health=health,
        renewal=renewal,
        advocacy=advocacy,
        events=events,
        executor_kind=r.choice("executor.kind", ("serial", "local")),
        executor_workers=r.number("executor.workers", 1, 4096, integer=True),
        progress=progress,
        output_csv=r.boolean("output.csv", default=False),
        output_plots=r.boolean("output.plots", default=True),
        discount_rate=r.number("finance.discount_rate", 0, 10, default=DEFAULT_DISCOUNT_RATE),
    )
    r.unknown_keys()
    if r.problems:
        raise ConfigError(r.problems)
    return params
