"""The month-0 state: every account's fixed traits, the book of customers and the pipeline in
flight (a warm start).

Built from ``initial``, the personas' traits and the book's own prices
(``PriceBook.current_book``), never from the scenario's prices, discount or programmes, so two
scenarios with the same seed start from the same state. A mechanism that is switched off has no
state in flight. Draws come from the ``init`` stream (month key 0 for the traits and the book,
1 for the pipeline) and, for the waiting times of the pipeline, from the streams of the
mechanisms that file them, keyed by month 0 (a month no step runs), so common random numbers
hold.

**The book is aged.** ``initial.customers`` paying accounts are split across personas by
``initial.mix`` (largest remainder: exact counts). The company has sold for ``A =
initial.age_months`` months at a steady inflow; a customer who buys in month c meets its first
churn draw in month c, so at the end of month 0 an account of cohort c has survived τ = 1 − c
draws. With base churn θ ~ Beta(α, β) (α = mean × concentration, β = (1 − mean) ×
concentration) a buyer survives τ draws with probability S(τ) = B(α, β + τ) / B(α, β) =
∏_{k<τ} (β + k) / (α + β + k), so a steady inflow's survivors have tenure

    p(τ) ∝ S(τ),  τ = 1 … A,

and a survivor of τ draws has θ | τ ~ Beta(α, β + τ) (Bayes: the prior times (1 − θ)^τ). Each
book account draws τ from p(τ) (inversion of one uniform), then θ from Beta(α, β + τ); cohort
month = 1 − τ. Its future survival is S(t | τ) = B(α, β + τ + t) / B(α, β + τ), and the
book's is Σ_τ S(τ + t) / Σ_τ S(τ). Null concentration: S(τ) = (1 − mean)^τ (geometric, θ =
mean). Plans and billing terms are drawn from the persona's choice at the book's prices
(``initial.prices``, ``initial.annual_discount``; ``initial.annual_share`` when set); an
annual contract bought in month c renews every term from c, so its next renewal is
1 − τ + term × ⌈τ / term⌉ (months 1 … term). With ``onboarding`` on, an account still on its
path (τ ≤ the path's months) is onboarding and activates in month 1 − τ + months. Health is 0:
the activation outcome has decayed (``health.decay``^months since), and it would depend on
onboarding quality, a programme a scenario changes.

**The pipeline in flight** (with ``acquisition`` on) is the steady state of the month-1
hazard: prospects reached per month a = h_bass × unaware + channel leads (``acquisition.hazards``
at month 0 with the spend the company had, ``initial.channel_spend``, not the scenario's; no
advocates yet, so no referrals); they evaluate K ~ geometric(l = advance + drop)
months and advance with s = advance / l; decisions take d = ``decision.months`` months and buy
with the persona's mean choice probability b at the book's prices (freemium: the free tier
re-decides monthly, b = P(ever buys)); the lost come back after 1 + geometric(n = nurture)
months. With E evaluators entering per month (a plus nurture returns), L_in losses per month,
and the returns of the losses of the last A months:

    E = a / (1 − (1 − (1 − n)^A) (1 − s b)),   L_in = E (1 − s b),
    consideration = E Σ_{j<A} (1 − l)^{j+1},   decision = E s d,
    lost = L_in Σ_{j<A} (1 − n)^j.

The unaware count a is read on is what the pipeline leaves (a = h_bass (U − P) + leads, solved
for a with P = a × the stocks per prospect). Counts are Poisson with these means, capped by the
persona's rows. Geometric waits are memoryless, so evaluators and lost prospects are filed by
the mechanisms' own schedule functions from month 1 (time already spent: a truncated geometric,
``stage_month`` ≤ 0); a decision in progress is due in a month uniform over 1 … d. With
``reactivation`` on, the accounts that churned within the win-back window and are not back yet
are there too: F = the book's expected base churn per month (+ failed payments of monthly
accounts); k months ago (k = 1 … min(window, A)) Poisson(F (1 − r)^{k−1}) of them, r = the
win-back rate; each comes back in month 1 + geometric(r) if that is within its window. A
churner's tenure at churn τ has p(τ) ∝ S(τ − 1) − S(τ) and its θ | τ ~ Beta(α + 1, β + τ − 1).
``initial.pipeline=false`` leaves the pipeline empty (the book alone).

The rows: the book first, then the pipeline, then the unaware (the aware prefix).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.book_csv import OwnBook, load_book
from simulator.calendar import NEVER, months_waiting
from simulator.mechanisms import acquisition, advocacy, consideration, onboarding, winback
from simulator.mechanisms.billing import ANNUAL_CONTRACTS, INVOLUNTARY_CHURN
from simulator.mechanisms.expansion import MAX_SEATS
from simulator.mechanisms.pricing import (
    PriceBook,
    annual_probability,
    choice_probabilities,
    choose,
)
from simulator.stages import DecisionPath, Source, Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.params import Persona, ScenarioParams
    from simulator.personas import PersonaAgent


#: Rows chosen at a time in the set-up's plan choice (bounds its temporary arrays).
_BLOCK_ROWS = 1 << 16


def split_by_share(total: int, shares: list[float]) -> list[int]:
    """Split ``total`` accounts by ``shares`` with the largest-remainder method (exact sum)."""
    raw = np.asarray(shares, dtype=np.float64) * total
    base = np.floor(raw).astype(np.int64)
    short = int(total - base.sum())
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:short]] += 1
    return [int(x) for x in base]


def book_sizes(params: ScenarioParams) -> list[int]:
    """The book's accounts per persona: ``initial.customers`` split by ``initial.mix``, or the
    customers of each persona in ``initial.book``."""
    if params.initial.book is not None:
        own = load_book(params)
        return [int(own.rows_of(k).size) for k in range(len(params.persona_list))]
    mix = [params.initial.mix[p.name] for p in params.persona_list]
    return split_by_share(params.initial.customers, mix)


def build_initial_state(model: JourneyModel) -> None:
    """Draw every account's traits, the aged book and the pipeline in flight, persona by
    persona (see the module docstring). With ``initial.book`` the book is the company's own
    (``_own_book``): the same draws are made, its accounts' plans, terms, seats, MRR, tenures
    and renewal months come from the file."""
    own = load_book(model.params) if model.params.initial.book is not None else None
    for agent, n_book in zip(model.persona_agents, book_sizes(model.params), strict=True):
        if n_book > agent.size:
            raise ValueError(
                f"initial.mix.{agent.persona.name}: {n_book} book accounts for a market of "
                f"{agent.size}"
            )
        _init_persona(model, agent, n_book, own)
        if model.params.initial.pipeline:
            _init_pipeline(model, agent, n_book)
        agent.recount()


# ---------------------------------------------------------------------------- tenure
def _beta_params(p: Persona) -> tuple[float, float] | None:
    """(α, β) of the persona's base churn, or None when everyone has exactly the mean."""
    c, mean = p.churn.concentration, p.churn.mean
    if c is None or mean in (0.0, 1.0):
        return None
    return mean * c, (1.0 - mean) * c


def survival(p: Persona, months: int) -> np.ndarray:
    """S(0 … months) of a buyer under base churn alone: ∏_{k<τ} (β + k) / (α + β + k) for
    Beta(α, β) churn, (1 − mean)^τ for exactly the mean."""
    k = np.arange(months, dtype=np.float64)
    ab = _beta_params(p)
    if ab is None:
        step = np.full(months, 1.0 - p.churn.mean)
    else:
        a, b = ab
        step = (b + k) / (a + b + k)
    return np.concatenate([[1.0], np.cumprod(step)])


def tenure_weights(p: Persona, months: int) -> np.ndarray:
    """p(τ) for τ = 1 … months: S(τ) normalised (all on τ = 1 when nobody survives)."""
    w = survival(p, months)[1:]
    if w.sum() <= 0:
        w = np.zeros(months)
        w[0] = 1.0
    return w / w.sum()


def _draw(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Values 1 … len(weights) with probabilities ``weights``, by inversion of ``u``."""
    cdf = np.cumsum(weights)
    return 1 + np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), weights.size - 1)


def _elapsed(u: np.ndarray, p: float, months: int) -> np.ndarray:
    """Months already spent in a stage left with probability ``p`` a month, of a steady
    inflow of age ``months``: geometric truncated to 0 … months − 1."""
    if p <= 0.0:
        return np.floor(u * months).astype(np.int64)
    top = 1.0 - (1.0 - min(p, 1.0)) ** months
    return np.minimum(months_waiting(u * top, p), months - 1)


# ---------------------------------------------------------------------------- the book
def _book_plans(
    model: JourneyModel, agent: PersonaAgent, rows: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Plans and billing terms of accounts ``rows`` at the book's prices."""
    p = agent.persona
    price_book = PriceBook.current_book(model.params)
    # The probabilities depend on the seats alone: computed once per seat count, then
    # chosen in blocks of rows (the same per-row operations, a bounded temporary).
    seats, by_seats = np.unique(agent.pop.seats[rows], return_inverse=True)
    per_seats = choice_probabilities(p, price_book, seats)[:, 1:]
    total = per_seats.sum(axis=1, keepdims=True)
    nobody = total[:, 0] == 0.0
    if nobody.any():
        # Every plan's probability underflowed (a willingness to pay far below the book's
        # prices): the logit's limit puts the account on the plan it pays least for.
        bill = price_book.list_price * np.where(price_book.per_seat, seats[nobody, None], 1)
        per_seats[nobody] = np.eye(per_seats.shape[1])[np.argmin(bill, axis=1)]
        total[nobody] = 1.0
    per_seats /= total
    plan = np.empty(rows.size, dtype=np.int64)
    v = np.empty(rows.size, dtype=np.float64)
    for block in range(0, rows.size, _BLOCK_ROWS):
        sl = slice(block, block + _BLOCK_ROWS)
        plan[sl], v[sl] = choose(per_seats[by_seats[sl]], u[sl])
    if model.mechanisms[ANNUAL_CONTRACTS]:
        share = model.params.initial.annual_share
        p_annual = share if share is not None else annual_probability(p, price_book.annual_discount)
        annual = v < p_annual
    else:
        annual = np.zeros(rows.size, dtype=np.bool_)
    return plan.astype(np.int8), annual


def _init_persona(
    model: JourneyModel, agent: PersonaAgent, n_book: int, own: OwnBook | None = None
) -> None:
    """Seats and base churn for every account of a persona; its first ``n_book`` rows become
    the aged book (the company's own, ``own``, when given)."""
    p = agent.persona
    pop = agent.pop
    n = agent.size
    gen = model.streams.generator("init", 0, p.index)
    # Each draw is made in blocks of rows (the same values in the same order: the generator
    # draws one variate after another), so its temporaries stay small in a large market.
    blocks = [slice(b, min(b + _BLOCK_ROWS, n)) for b in range(0, n, _BLOCK_ROWS)]
    # Seats: 1 + (mean - 1) × Gamma(2, 1) / 2, rounded (mean ``personas.*.seats.mean``).
    for sl in blocks:
        seats = 1.0 + (p.seats.mean - 1.0) * gen.standard_gamma(2.0, size=sl.stop - sl.start) / 2.0
        pop.seats[sl] = np.clip(np.rint(seats), 1, MAX_SEATS)
    # Base monthly churn of a prospect: Beta(α, β), or exactly the mean.
    ab = _beta_params(p)
    if ab is None:
        pop.base_churn[:] = p.churn.mean
    else:
        for sl in blocks:
            pop.base_churn[sl] = gen.beta(*ab, size=sl.stop - sl.start)
    # Uniforms of the book's plans and tenures (drawn for every row; the book's are kept).
    u_plan, u_tenure = (np.empty(n_book), np.empty(n_book))
    for u in (u_plan, u_tenure):
        for sl in blocks:
            draw = gen.random(sl.stop - sl.start)
            if sl.start < n_book:
                u[sl.start : min(sl.stop, n_book)] = draw[: n_book - sl.start]
    if n_book == 0:
        return
    book = np.arange(n_book)
    term = model.params.renewal.term_months
    if own is None:
        age = model.params.initial.age_months
        tenure = _draw(tenure_weights(p, age), u_tenure)
    else:
        entries = own.rows_of(p.index)
        tenure = 1 - own.cohort[entries]
    if ab is not None:  # a survivor of τ draws: θ | τ ~ Beta(α, β + τ)
        pop.base_churn[book] = gen.beta(ab[0], ab[1] + tenure)
    if own is None:
        plan, annual = _book_plans(model, agent, book, u_plan)
        agent.start_paying(
            book, plan, annual, Stage.ACTIVE, Stage.UNAWARE, 1, PriceBook.current_book(model.params)
        )
    else:
        plan, annual = _own_plans(model, agent, own, entries)
    cohort = 1 - tenure
    pop.cohort_month[book] = cohort
    term_end = np.where(annual, cohort + term * -(-tenure // term), 0)
    if own is not None:
        given = own.renewal[entries]
        term_end = np.where(annual & (given > 0), given, term_end)
    pop.term_end[book] = term_end
    months = 0
    if model.mechanisms[onboarding.SWITCH]:
        months = model.params.onboarding.paths[p.onboarding].months
        still = book[tenure <= months]
        agent.move(still, Stage.ONBOARDING, Stage.ACTIVE)
        agent.due["onboarding"].add(cohort[still] + months, still)
    on_path = tenure <= months
    pop.stage_month[book] = np.where(on_path, cohort, cohort + months)


def _own_plans(
    model: JourneyModel, agent: PersonaAgent, own: OwnBook, entries: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The company's own accounts of a persona (its first rows) start paying on the file's
    plans, terms and seats; an account whose ``mrr`` is given pays it (its seats, when
    empty, are that MRR over the plan's price per seat at the book's prices)."""
    pop = agent.pop
    book = np.arange(entries.size)
    price_book = PriceBook.current_book(model.params)
    ranked = model.params.pricing.ranked
    plan = np.array([ranked.index(own.plan[e]) for e in entries], dtype=np.int8)
    annual = own.annual[entries].copy()
    seats = own.seats[entries]
    mrr = own.mrr[entries]
    derive = seats == 0
    if derive.any():
        unit = (
            price_book.list_price[plan[derive]]
            * agent.persona.price_multiplier
            * np.where(annual[derive], 1.0 - price_book.annual_discount, 1.0)
        )
        per_seat = price_book.per_seat[plan[derive]]
        guess = np.rint(mrr[derive] / np.where(unit > 0, unit, np.inf))
        seats = seats.copy()
        seats[derive] = np.where(per_seat, np.clip(guess, 1, MAX_SEATS), 1)
    pop.seats[book] = seats
    agent.start_paying(book, plan, annual, Stage.ACTIVE, Stage.UNAWARE, 1, price_book)
    given = ~np.isnan(mrr)
    pop.mrr[book[given]] = mrr[given]
    return plan, annual


# ---------------------------------------------------------------------------- the pipeline
def _buy_probability(model: JourneyModel, agent: PersonaAgent, n_book: int) -> float:
    """Mean probability that a prospect's decision buys a plan, at the book's prices."""
    p = agent.persona
    extra = 0.0
    if model.mechanisms[advocacy.SWITCH]:
        extra += advocacy.reputation_utility(model)
    card = p.decision.path == DecisionPath.TRIAL and p.decision.card_required
    freemium = p.decision.path == DecisionPath.FREEMIUM
    seats, accounts = np.unique(agent.pop.seats[n_book:], return_counts=True)
    if seats.size == 0:
        return 0.0
    probs = choice_probabilities(
        p,
        PriceBook.current_book(model.params),
        seats,
        extra,
        outside_extra=p.decision.free_value if freemium else 0.0,
    )
    # Mean over the prospects, grouped by seat count (the probabilities depend on seats only).
    buy = float(1.0 - np.dot(probs[:, 0], accounts) / accounts.sum())
    # A card trial's non-buyers are billed anyway with probability forgot_to_cancel.
    return buy + (1.0 - buy) * p.decision.forgot_to_cancel if card else buy


def _init_pipeline(model: JourneyModel, agent: PersonaAgent, n_book: int) -> None:
    """Prospects in consideration, decision and lost (with ``acquisition`` on) and recent
    churners (with ``reactivation`` on) in the rows after the book."""
    p = agent.persona
    pop = agent.pop
    age = model.params.initial.age_months
    gen = model.streams.generator("init", 1, p.index)
    room = agent.size - n_book
    counts = {}
    churners = np.zeros(0, dtype=np.int64)
    if model.mechanisms[winback.SWITCH] and p.winback.rate > 0 and p.winback.window_months > 0:
        churners = _churner_counts(model, agent, n_book, gen)
    if model.mechanisms[acquisition.SWITCH]:
        counts = _prospect_counts(model, agent, n_book, room - int(churners.sum()), gen)
    start = n_book
    rows = {}
    for stage in (Stage.CONSIDERATION, Stage.DECISION, Stage.LOST):
        k = counts.get(stage, 0)
        rows[stage] = np.arange(start, start + k)
        start += k
    n_churned = min(int(churners.sum()), agent.size - start)
    rows[Stage.CHURNED] = np.arange(start, start + n_churned)
    end = start + n_churned
    if end == n_book:
        return
    every = np.arange(n_book, end)
    organic = counts.get("organic", 1.0)
    pop.source[every] = np.where(
        gen.random(every.size) < organic, Source.ORGANIC, Source.CHANNEL
    ).astype(np.int8)
    for stage, idx in rows.items():
        pop.stage[idx] = stage

    # Evaluating: entered j months ago (truncated geometric); they leave from month 1 on.
    idx = rows[Stage.CONSIDERATION]
    leave = counts.get("leave", 0.0)
    pop.stage_month[idx] = -_elapsed(gen.random(idx.size), leave, age)
    consideration.schedule_consideration(agent, idx, first_month=1)
    # Deciding: due in a month uniform over the decision's months (1 … d).
    idx = rows[Stage.DECISION]
    d = max(p.decision.months, 1)
    due = 1 + np.floor(gen.random(idx.size) * d).astype(np.int64)
    agent.due["decision"].add(due, idx)
    pop.stage_month[idx] = np.minimum(due - p.decision.months, 0)
    # Lost: nurture brings each back after 1 + geometric(nurture) months, as for any loss.
    idx = rows[Stage.LOST]
    pop.stage_month[idx] = -_elapsed(gen.random(idx.size), p.consideration.nurture, age)
    consideration.schedule_nurture(agent, idx)
    # Churned k months ago, not back yet: each comes back in 1 + geometric(rate) if within
    # its window.
    idx = rows[Stage.CHURNED]
    if idx.size:
        _init_churners(model, agent, idx, churners, gen)


def _prospect_counts(
    model: JourneyModel, agent: PersonaAgent, n_book: int, room: int, gen: np.random.Generator
) -> dict:
    """How many prospects are evaluating, deciding and lost at month 0 (module docstring)."""
    p = agent.persona
    age = model.params.initial.age_months
    if room <= 0:
        return {}
    state = agent.counts.copy()
    state[Stage.UNAWARE] = room
    spend = model.params.initial.channel_spend
    h_bass, h_channel, _ = acquisition.hazards(model, agent, state, spend)
    leads = h_channel * room
    advance = p.consideration.advance
    leave = advance + p.consideration.drop
    s = advance / leave if leave > 0 else 0.0  # share of leavers who start a decision
    if p.decision.path == DecisionPath.TRIAL and p.decision.card_required:
        s *= p.decision.card_start_factor  # the rest will not give a card (lost)
    b = _buy_probability(model, agent, n_book)
    n = p.consideration.nurture
    free = 0.0  # free-tier users per decision started (freemium)
    if p.decision.path == DecisionPath.FREEMIUM:
        r = (1.0 - b) * (1.0 - p.decision.free_drop)
        free = r / (1.0 - r) if r < 1.0 else float(age)
        b = b / (1.0 - r) if r < 1.0 else 0.0
    lose = 1.0 - s * b
    returned = 1.0 - (1.0 - n) ** age  # share of a month's losses back within A months
    evaluators = 1.0 / max(1.0 - returned * lose, 1e-9)  # per prospect reached
    j = np.arange(age)
    per_reach = {
        Stage.CONSIDERATION: evaluators * float(np.sum((1.0 - leave) ** (j + 1))),
        Stage.DECISION: evaluators * s * (p.decision.months + free),
        Stage.LOST: evaluators * lose * float(np.sum((1.0 - n) ** j)),
    }
    per_reach_total = sum(per_reach.values())
    # Prospects reached a month: h_bass × the unaware the pipeline leaves + channel leads.
    reached = (h_bass * room + leads) / (1.0 + h_bass * per_reach_total)
    scale = min(1.0, room / max(reached * per_reach_total, 1e-300))
    out: dict = {st: int(gen.poisson(reached * k * scale)) for st, k in per_reach.items()}
    over = sum(out.values()) - room
    for st in (Stage.LOST, Stage.CONSIDERATION, Stage.DECISION):
        cut = min(max(over, 0), out[st])
        out[st] -= cut
        over -= cut
    unaware_left = room - (reached * per_reach_total * scale)
    organic = h_bass * unaware_left
    out["organic"] = organic / (organic + leads) if organic + leads > 0 else 1.0
    out["leave"] = leave
    return out


def _churner_counts(
    model: JourneyModel, agent: PersonaAgent, n_book: int, gen: np.random.Generator
) -> np.ndarray:
    """Accounts that churned k = 1 … min(window, A) months ago and are not back yet."""
    p = agent.persona
    par = model.params
    pop = agent.pop
    book = slice(0, n_book)
    flow = float(pop.base_churn[book].sum(dtype=np.float64))
    if model.mechanisms[INVOLUNTARY_CHURN]:
        billing = par.pricing.billing
        p_invol = billing.payment_failure_rate * (1.0 - billing.dunning_recovery)
        flow += p_invol * int(np.count_nonzero(~pop.annual[book]))
    k = np.arange(1, min(p.winback.window_months, par.initial.age_months) + 1)
    return gen.poisson(flow * (1.0 - p.winback.rate) ** (k - 1))


def _init_churners(
    model: JourneyModel,
    agent: PersonaAgent,
    idx: np.ndarray,
    per_month: np.ndarray,
    gen: np.random.Generator,
) -> None:
    """Churned rows ``idx``: months since churn, tenure at churn, base churn, plan, win-back."""
    p = agent.persona
    pop = agent.pop
    age = model.params.initial.age_months
    ago = np.repeat(np.arange(1, per_month.size + 1), per_month)[: idx.size]
    s = survival(p, age)
    at_churn = _draw(np.maximum(s[:-1] - s[1:], 0.0) + 1e-300, gen.random(idx.size))
    ab = _beta_params(p)
    if ab is not None:  # churned at its τ-th draw: θ | τ ~ Beta(α + 1, β + τ − 1)
        pop.base_churn[idx] = gen.beta(ab[0] + 1.0, ab[1] + at_churn - 1.0)
    plan, _ = _book_plans(model, agent, idx, gen.random(idx.size))
    pop.plan[idx] = plan
    pop.stage_month[idx] = 1 - ago
    pop.cohort_month[idx] = 2 - ago - at_churn
    wait = months_waiting(model.streams.row_uniform("winback", 0, p.index, idx), p.winback.rate)
    soon = (wait <= p.winback.window_months - ago) & (wait < NEVER)
    agent.due["winback"].add(1 + wait[soon], idx[soon])
