"""Rules that tie one part of the config to another: shares that sum to 1, names that must
exist elsewhere (plans, channels, onboarding paths, mechanisms, support channels, personas),
plans with distinct ranks. (A rank order that disagrees with the price order is not an error:
``simulator.mechanisms.pricing.rank_warnings`` warns about it.)

They read the plain config tree, so they run beside the schema and every problem is reported
at once; a rule whose inputs already have a problem of their own stays silent (one problem, one
line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import pairwise
from typing import Any

Problem = tuple[str, str]


def _names(value: Any) -> list[str]:
    return [str(k) for k in value] if isinstance(value, dict) else []


def _sections(tree: dict[str, Any], key: str) -> dict[str, Any]:
    node: Any = tree
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _same_names(
    key: str, given: dict[str, Any], allowed: Iterable[str], what: str
) -> list[Problem]:
    """``given`` must name exactly ``allowed``: extra names are unknown, absent ones missing."""
    allowed = list(allowed)
    out = [
        (f"{key}.{extra}", f"unknown {what}; {what}s are {', '.join(allowed)}")
        for extra in given
        if extra not in allowed
    ]
    out += [(f"{key}.{name}", "missing") for name in allowed if name not in given]
    return out


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def cross_section_problems(
    tree: dict[str, Any],
    has_problem: Callable[[str], bool],
    *,
    mechanisms: Iterable[str],
    support_channels: Iterable[str],
) -> list[Problem]:
    """Every broken cross-section rule of a config tree, as (key, message).

    Args:
        tree: the plain config (scenario part).
        has_problem: whether a key (or anything under it) already has a problem of its own.
        mechanisms: the mechanism switch names the engine knows.
        support_channels: the support channels the engine knows.
    """
    out: list[Problem] = []
    personas = _sections(tree, "personas")
    plans = _names(_sections(tree, "pricing.plans"))
    channels = _names(_sections(tree, "acquisition.channels"))
    paths = _names(_sections(tree, "onboarding.paths"))
    support_channels = list(support_channels)

    if "personas" in tree and not personas and not has_problem("personas"):
        out.append(("personas", "at least one persona is needed"))
    shares = {name: p.get("share") if isinstance(p, dict) else None for name, p in personas.items()}
    if shares and not any(has_problem(f"personas.{n}.share") for n in shares):
        total = sum(shares.values())
        if abs(total - 1.0) > 1e-6:
            listed = ", ".join(f"{n}={s:g}" for n, s in shares.items())
            out.append(("personas.*.share", f"shares must sum to 1, got {total:g} ({listed})"))

    for name, p in personas.items():
        k = f"personas.{name}"
        if not isinstance(p, dict):
            continue
        if isinstance(p.get("plan_value"), dict) and plans:
            out += _same_names(f"{k}.plan_value", p["plan_value"], plans, "plan")
        if isinstance(p.get("channels"), dict) and "acquisition" in tree:
            out += _same_names(f"{k}.channels", p["channels"], channels, "channel")
        mix = (
            (p.get("support") or {}).get("channel_mix")
            if isinstance(p.get("support"), dict)
            else None
        )
        if isinstance(mix, dict):
            out += _same_names(f"{k}.support.channel_mix", mix, support_channels, "support channel")
            values = list(mix.values())
            checkable = all(_is_number(v) for v in values) and not has_problem(f"{k}.support")
            if checkable and abs(sum(values) - 1.0) > 1e-6:
                out.append(
                    (f"{k}.support.channel_mix", f"shares must sum to 1, got {sum(values):g}")
                )
        path = p.get("onboarding")
        if isinstance(path, str) and paths and path not in paths:
            out.append((f"{k}.onboarding", f"must be one of {', '.join(paths)}; got {path!r}"))

    out += _mix_problems(tree, has_problem, personas)

    initial_prices = _sections(tree, "initial").get("prices")
    if isinstance(initial_prices, dict) and plans:
        # A plan the book's prices do not name is new (launched by the scenario): the book at
        # month 0 holds none of it. Every name given must be a plan, and one plan is needed.
        out += [
            (f"initial.prices.{extra}", f"unknown plan; plans are {', '.join(plans)}")
            for extra in initial_prices
            if extra not in plans
        ]
        if not any(name in initial_prices for name in plans):
            out.append(("initial.prices", "must name at least one plan (the book's plans)"))
    usage = _sections(tree, "pricing").get("usage")
    if isinstance(usage, dict) and plans:
        out += [
            (f"pricing.usage.{extra}", f"unknown plan; plans are {', '.join(plans)}")
            for extra in usage
            if extra not in plans
        ]
    initial_spend = _sections(tree, "initial").get("channel_spend")
    if isinstance(initial_spend, dict) and channels:
        out += _same_names("initial.channel_spend", initial_spend, channels, "channel")

    plan_tree = _sections(tree, "pricing.plans")
    if "pricing" in tree and not plans and not has_problem("pricing.plans"):
        out.append(("pricing.plans", "at least one plan is needed"))
    ranks = [p.get("rank") for p in plan_tree.values() if isinstance(p, dict)]
    if all(_is_number(r) for r in ranks) and len(set(ranks)) != len(ranks):
        out.append(("pricing.plans", "every plan needs a distinct rank"))

    if isinstance(tree.get("mechanisms"), dict):
        out += _same_names("mechanisms", tree["mechanisms"], mechanisms, "mechanism")
    support = _sections(tree, "support.channels")
    if support:
        out += _same_names("support.channels", support, support_channels, "support channel")

    initial = _sections(tree, "initial").get("customers")
    size = _sections(tree, "market").get("size")
    checkable = _is_number(initial) and _is_number(size)
    checkable = (
        checkable and not has_problem("initial.customers") and not has_problem("market.size")
    )
    if checkable and initial > size:
        out.append(("initial.customers", f"must be <= market.size ({size}), got {initial}"))

    named = {"plan": plans, "channel": channels, "path": paths, "persona": _names(personas)}
    named["touchpoint"] = _names(_sections(tree, "touchpoints"))
    for name, event in _sections(tree, "events").items():
        if not isinstance(event, dict):
            continue
        for field, allowed in named.items():
            value = event.get(field)
            if isinstance(value, str) and value not in allowed:
                out.append(
                    (
                        f"events.{name}.{field}",
                        f"must be one of {', '.join(allowed)}; got {value!r}",
                    )
                )
    out += _promo_overlaps(_sections(tree, "events"))
    out += _touchpoint_personas(tree, _names(personas))
    return [(k, m) for k, m in out if not has_problem(k)]


def _promo_overlaps(events: dict[str, Any]) -> list[Problem]:
    """Promotions (``type: promo``) may not run in the same month: a new customer gets at most
    one."""
    spans = sorted(
        (e["month"], e["month"] + e["months"] - 1, name)
        for name, e in events.items()
        if isinstance(e, dict)
        and e.get("type") == "promo"
        and _is_number(e.get("month"))
        and _is_number(e.get("months"))
    )
    return [
        (
            f"events.{b}",
            f"promotions may not overlap: runs in months {first}-{last}, events.{a} in "
            f"months {a_first}-{a_last}",
        )
        for (a_first, a_last, a), (first, last, b) in pairwise(spans)
        if first <= a_last
    ]


def _split(total: int, shares: list[float]) -> list[int]:
    """Largest-remainder split (as ``simulator.book.split_by_share``, without its imports)."""
    raw = [s * total for s in shares]
    base = [int(x // 1) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: -(raw[i] - base[i]))
    for i in order[: total - sum(base)]:
        base[i] += 1
    return base


def _mix_problems(
    tree: dict[str, Any], has_problem: Callable[[str], bool], personas: dict[str, Any]
) -> list[Problem]:
    """``initial.mix`` names every persona, its shares sum to 1, and each persona's book fits
    in its part of the market."""
    mix = _sections(tree, "initial").get("mix")
    if not isinstance(mix, dict) or not personas or has_problem("initial.mix"):
        return []
    out = _same_names("initial.mix", mix, list(personas), "persona")
    values = [mix.get(n) for n in personas]
    if out or not all(_is_number(v) for v in values):
        return out
    if abs(sum(values) - 1.0) > 1e-6:
        listed = ", ".join(f"{n}={v:g}" for n, v in zip(personas, values, strict=True))
        return [("initial.mix", f"shares must sum to 1, got {sum(values):g} ({listed})")]
    customers = _sections(tree, "initial").get("customers")
    size = _sections(tree, "market").get("size")
    shares = [p.get("share") if isinstance(p, dict) else None for p in personas.values()]
    numbers = [customers, size, *shares]
    if not all(_is_number(x) for x in numbers) or has_problem("personas"):
        return out
    if has_problem("initial.customers") or has_problem("market.size") or customers > size:
        return out
    if abs(sum(shares) - 1.0) > 1e-6:
        return out
    rows = _split(int(size), shares)
    for name, n_book, n_rows in zip(personas, _split(int(customers), values), rows, strict=True):
        if n_book > n_rows:
            out.append(
                (
                    f"initial.mix.{name}",
                    f"{n_book} of the book's {customers} accounts do not fit in the persona's "
                    f"{n_rows} accounts of the market (market.size × personas.{name}.share)",
                )
            )
    return out


def _touchpoint_personas(tree: dict[str, Any], personas: list[str]) -> list[Problem]:
    """A touchpoint's ``reach``, ``baseline_reach`` and ``by_persona`` (and a touchpoint
    event's ``reach``) name personas that exist. A persona a touchpoint reaches exactly as much
    as its baseline has no effect: that one may be absent (the shipped touchpoints name the
    default personas, and a config may remove some)."""
    out: list[Problem] = []
    parts = [
        (f"touchpoints.{name}", tp, ("reach", "baseline_reach", "by_persona"))
        for name, tp in _sections(tree, "touchpoints").items()
    ]
    parts += [(f"events.{name}", e, ("reach",)) for name, e in _sections(tree, "events").items()]
    for key, section, fields in parts:
        if not isinstance(section, dict) or not personas:
            continue
        for field in fields:
            given = section.get(field)
            other = section.get("baseline_reach" if field == "reach" else "reach")
            for persona in given if isinstance(given, dict) else ():
                idle = (
                    key.startswith("touchpoints.")
                    and field in ("reach", "baseline_reach")
                    and isinstance(other, dict)
                    # no effect, or reported once under reach
                    and (other.get(persona) == given[persona] or field == "baseline_reach")
                    and persona in other
                )
                if persona not in personas and not idle:
                    out.append(
                        (
                            f"{key}.{field}.{persona}",
                            f"unknown persona; personas are {', '.join(personas)}",
                        )
                    )
    return out
