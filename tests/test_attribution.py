"""Acquisition attribution and CAC by channel (``simulator.attribution``, ``simulator.cac``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sizes import size, small

from simulator import load_config, simulate
from simulator.cac import cac_by_channel, cac_lines, channel_summary, format_channel_table
from simulator.mechanisms.acquisition import channel_leads
from simulator.metrics import TOTAL, summarize
from simulator.results import CHANNELS

#: Only the content channel spends; no word of mouth, no referrals, no pipeline at month 0:
#: every new customer comes from the content channel.
ONE_CHANNEL = [
    "acquisition.channels.paid_ads.spend=0",
    "acquisition.channels.review_sites.spend=0",
    "acquisition.channels.outbound.spend=0",
    "acquisition.bass.p=0",
    "acquisition.bass.q=0",
    "mechanisms.referrals=false",
    "initial.pipeline=false",
]


@pytest.fixture(scope="module")
def default_run():
    return simulate(load_config(small(months=12)), progress=False)


def test_sources_add_up_to_the_monthly_table(default_run) -> None:
    res = default_run
    ch = res.channels
    assert list(ch.columns) == list(CHANNELS.names)
    channels = res.params.acquisition.channels
    assert set(ch["channel"]) == {"initial", "organic", "referral", *channels}
    keys = ["replication", "month", "persona"]
    s = ch.groupby(keys).sum(numeric_only=True)
    m = res.monthly.set_index(keys).reindex(s.index)
    for column in ("new_customers", "new_mrr", "prospects", "decisions_started", "referral_cost"):
        np.testing.assert_allclose(s[column], m[column], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(
        s["channel_spend"] + s["sales_cost"], m["acquisition_cost"], rtol=1e-12, atol=1e-6
    )
    # The pipeline in flight (``initial``) and the channels bring customers; organic and
    # initial have no spend, only referrals earn rewards.
    by = ch.groupby("channel")[["new_customers", "channel_spend", "referral_cost"]].sum()
    assert by.loc["initial", "new_customers"] > 0
    assert (by.loc[list(res.params.acquisition.channels), "new_customers"] > 0).all()
    assert by.loc["initial", "channel_spend"] == 0 == by.loc["organic", "channel_spend"]
    assert by.drop("referral")["referral_cost"].sum() == 0


def test_weighted_channel_cac_is_the_persona_cac(default_run) -> None:
    res = default_run
    per = cac_by_channel(res.channels, res.monthly, res.params)
    lines = cac_lines(res.monthly, res.params).set_index(["replication", "persona"])
    for (rep, persona), g in per.groupby(["replication", "persona"]):
        line = lines.loc[(rep, persona)]
        assert g["new_customers"].sum() == pytest.approx(line["new_customers"])
        assert g["cost_loaded"].sum() == pytest.approx(
            line["cac_loaded"] * line["new_customers"], rel=1e-9
        )
    # The company CAC of the lines is the headline CAC of the summary.
    total = lines.xs(TOTAL, level="persona")["cac"].to_numpy()
    headline = summarize(res.monthly, res.params.finance)["cac"]["median"]
    assert np.median(total) == pytest.approx(headline)


def test_one_channel_only_its_cac_is_the_total_cac() -> None:
    res = simulate(load_config([*size(30_000, 900, 6, 2), *ONE_CHANNEL]), progress=False)
    per = cac_by_channel(res.channels, res.monthly, res.params)
    total = per[per["persona"] == TOTAL]
    brought = total[total["new_customers"] > 0]
    assert list(brought["channel"].unique()) == ["content"]
    lines = cac_lines(res.monthly, res.params)
    lines = lines[lines["persona"] == TOTAL].set_index("replication")
    for _, row in brought.iterrows():
        assert row["cac"] == pytest.approx(lines.loc[row["replication"], "cac"], rel=1e-12)
        assert row["cac_loaded"] == pytest.approx(
            lines.loc[row["replication"], "cac_loaded"], rel=1e-12
        )
    summary = channel_summary(per)
    row = summary[(summary.persona == TOTAL) & (summary.channel == "content")].set_index("metric")
    headline = summarize(res.monthly, res.params.finance)["cac"]
    assert row.loc["cac", "median"] == pytest.approx(headline["median"], rel=1e-12)
    assert row.loc["cac", "p10"] == pytest.approx(headline["p10"], rel=1e-12)
    assert "content" in format_channel_table(summary)


def test_two_channels_share_prospects_in_proportion_to_their_leads() -> None:
    # content and paid_ads spend, the others nothing; no word of mouth, no referrals.
    overrides = [*size(30_000, 900, 6, 2), *(o for o in ONE_CHANNEL if "paid_ads" not in o)]
    res = simulate(load_config(overrides), progress=False)
    acq = res.params.acquisition
    leads = {
        c: channel_leads(ch.spend, ch.cost_per_lead, ch.saturation_leads)
        for c, ch in acq.channels.items()
        if c in ("content", "paid_ads")
    }
    ch = res.channels
    for persona in res.params.persona_list:
        # the persona's share of a channel's leads: its weight / every persona's weight
        w = {
            c: leads[c] * persona.channels[c] / sum(q.channels[c] for q in res.params.persona_list)
            for c in leads
        }
        g = ch[ch["persona"] == persona.name].groupby("channel")["prospects"].sum()
        if w["content"] + w["paid_ads"] == 0:  # enterprise: outbound only, which spends 0
            assert g.sum() == 0
            continue
        expected = w["content"] / (w["content"] + w["paid_ads"])
        n = g["content"] + g["paid_ads"]
        assert g.drop(["content", "paid_ads"]).sum() == 0
        share = g["content"] / n
        assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / n), persona.name
        # conversion does not depend on the channel: new customers split the same way
        new = ch[ch["persona"] == persona.name].groupby("channel")["new_customers"].sum()
        k = new["content"] + new["paid_ads"]
        if k >= 50:
            assert abs(new["content"] / k - expected) < 4 * np.sqrt(expected * (1 - expected) / k)


def _fixed_cost_touchpoint(name: str, stage: str, reach: float, fixed: float, lift: str) -> str:
    """A touchpoint override reaching ``reach`` of every persona, at its baseline (the run is
    unchanged), costing only ``fixed`` $ a month, with a lift on ``lift``."""
    shares = "{solo: R, smb: R, midmarket: R, enterprise: R}".replace("R", str(reach))
    return (
        f"+touchpoints.{name}={{stage: {stage}, enabled: true, reach: {shares}, "
        f"baseline_reach: {shares}, cost: {{fixed_per_month: {fixed}, per_account: 0}}, "
        f"lift: {{{lift}: 0.1}}, utility: 0.0, by_persona: {{}}}}"
    )


def test_a_decision_programme_with_a_fixed_cost_adds_exactly_its_cost() -> None:
    months, fixed = 4, 1234.5
    base = [*size(8_000, 300, months, 2)]
    tp = _fixed_cost_touchpoint("sales_playbook", "decision", 0.2, fixed, "trial_to_paid")
    without = simulate(load_config(base), progress=False)
    with_it = simulate(load_config([*base, tp]), progress=False)
    # baseline reach = reach: the run is the same, only the programmes line moves
    pd.testing.assert_frame_equal(without.monthly, with_it.monthly)
    a = cac_lines(without.monthly, without.params).set_index(["replication", "persona"])
    b = cac_lines(with_it.monthly, with_it.params).set_index(["replication", "persona"])
    extra = (b["programmes"] - a["programmes"]).xs(TOTAL, level="persona")
    np.testing.assert_allclose(extra.to_numpy(), fixed * months, rtol=1e-12)
    assert (b["onboarding_programmes"] == a["onboarding_programmes"]).all()
    assert (b["cac"] == a["cac"]).all()
    new = b.xs(TOTAL, level="persona")["new_customers"]
    np.testing.assert_allclose(
        (b["cac_loaded"] - a["cac_loaded"]).xs(TOTAL, level="persona"), fixed * months / new
    )
    # by channel: the programme is shared by new customers; Σ over sources = X × months
    pa = cac_by_channel(without.channels, without.monthly, without.params)
    pb = cac_by_channel(with_it.channels, with_it.monthly, with_it.params)
    diff = (pb["programmes"] - pa["programmes"])[pb["persona"] == TOTAL]
    sums = diff.groupby(pb.loc[pb["persona"] == TOTAL, "replication"]).sum()
    np.testing.assert_allclose(sums.to_numpy(), fixed * months, rtol=1e-9)


def test_onboarding_touchpoints_join_the_onboarding_line() -> None:
    months, fixed = 3, 500.0
    base = [*size(8_000, 300, months, 1)]
    tp = _fixed_cost_touchpoint("welcome_calls", "onboarding", 0.5, fixed, "activation")
    a = simulate(load_config(base), progress=False)
    b = simulate(load_config([*base, tp]), progress=False)
    la = cac_lines(a.monthly, a.params).set_index("persona").loc[TOTAL]
    lb = cac_lines(b.monthly, b.params).set_index("persona").loc[TOTAL]
    extra = lb["onboarding_programmes"] - la["onboarding_programmes"]
    assert extra == pytest.approx(fixed * months)
    assert lb["programmes"] == la["programmes"]
    assert lb["onboarding_per_new"] - la["onboarding_per_new"] == pytest.approx(
        fixed * months / lb["new_customers"]
    )


def test_the_report_and_a_saved_run_carry_cac_by_source(default_run, tmp_path) -> None:
    from simulator import cac_by_channel as exported
    from simulator import report

    res = default_run
    assert exported(res).equals(cac_by_channel(res.channels, res.monthly, res.params))
    written = report(res, tmp_path / "mem")
    assert written.channels is not None
    page = written.html.read_text()
    assert "CAC, fully loaded" in page and "review_sites" in page
    run_dir = res.save(tmp_path / "run", plots=False)
    saved = pd.read_parquet(run_dir / "channels.parquet")
    pd.testing.assert_frame_equal(saved, res.channels)
    again = report(run_dir)  # from the directory: reads channels.parquet
    pd.testing.assert_frame_equal(again.channels, written.channels)


def test_channels_are_checkpointed_with_each_replication(tmp_path) -> None:
    cfg = load_config(size(8_000, 300, 3, 2))
    first = simulate(cfg, checkpoint_dir=tmp_path, progress=False)
    assert len(list((tmp_path / "replications").glob("channels-*.parquet"))) == 2
    resumed = simulate(cfg, checkpoint_dir=tmp_path, progress=False)  # loaded, not rerun
    pd.testing.assert_frame_equal(first.channels, resumed.channels)
