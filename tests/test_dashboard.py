"""The dashboard (``simulator.dashboard``): its levers and their ranges, the side-by-side model
on common random numbers, its plots' artists, and the page in a real headless Chromium.

The browser test starts ``journey-sim task=dashboard`` on a free loopback port, waits for the
HTTP port to answer, opens the page with Debian's chromium and chromedriver (``make test``
installs them when missing), moves the pro price slider, presses Reset and Step, and checks
from the page that the settings took effect and that every plot was redrawn. It saves a
screenshot in ``$JOURNEY_SIM_ARTIFACTS`` (default ``tests/artifacts/``, gitignored). Without a
browser or the dashboard's packages it is skipped, except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from simulator import load_config
from simulator.dashboard import (
    VIEWS,
    DashboardModel,
    free_port,
    levers_of,
    model_params,
    readout,
    view_figure,
)
from simulator.errors import ConfigError
from simulator.experiments.montecarlo import records_to_frame
from simulator.model import JourneyModel
from simulator.params import params_of, replace
from simulator.params.ranges import range_of
from simulator.plots import (
    plot_difference,
    plot_funnel,
    plot_mrr_bridge,
    plot_mrr_by_persona,
    plot_support,
)
from simulator.results import BRIDGE_MINUS, BRIDGE_PLUS, STAGE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
IN_CI = bool(os.environ.get("CI"))
MONTHS = 4


@pytest.fixture(scope="module")
def base():
    """The default scenario at a small size and a short horizon."""
    return params_of(
        load_config([f"months={MONTHS}", "market.size=40000", "initial.customers=600"])
    )


@pytest.fixture(scope="module")
def stepped(base):
    """A dashboard model with the pro price up, stepped to the horizon."""
    model = DashboardModel(base, replication=1, **{"pricing.plans.pro.price": 99.0})
    for _ in range(MONTHS):
        model.step()
    return model


# ---------------------------------------------------------------------------- levers
def test_levers_take_their_ranges_from_the_schema(base) -> None:
    levers = {lv.key: lv for lv in levers_of(base)}
    assert {"support.agents", "success.csms", "acquisition.referral_reward"} <= set(levers)
    assert [k for k in levers if k.startswith("pricing.plans.")] == [
        f"pricing.plans.{p}.price" for p in ("starter", "pro", "enterprise")
    ]
    # probabilities and months span the schema's whole range
    discount = levers["pricing.annual_discount"]
    assert (discount.lo, discount.hi, discount.kind) == (0.0, 1.0, "float")
    months = levers["personas.smb.decision.months"]
    assert (
        (months.lo, months.hi, months.kind) == (0, range_of(months.key).hi, "int") == (0, 24, "int")
    )
    assert levers["personas.smb.decision.card_required"].kind == "bool"
    assert levers["personas.smb.decision.card_required"].value is True
    # only trial personas have a trial lever
    assert not any(k.startswith("personas.midmarket.") for k in levers)
    # absurdly wide ranges (money, head counts) stop at SPAN x the config's value
    agents = levers["support.agents"]
    assert (agents.lo, agents.hi, agents.value) == (0, 27, 9)
    assert levers["pricing.plans.pro.price"].hi == pytest.approx(3 * 79)
    for lv in levers.values():
        if lv.kind != "bool":
            assert lv.lo <= lv.value <= lv.hi, lv
    # each slider's ends are values the schema accepts (a price alone can break plan order)
    for key in ("support.agents", "pricing.annual_discount", "personas.solo.decision.months"):
        for end in (levers[key].lo, levers[key].hi):
            assert _get(replace(base, {key: end}).model_dump(), key) == end


def test_every_touchpoint_is_a_switch_and_switching_one_off_changes_the_run(base) -> None:
    levers = {lv.key: lv for lv in levers_of(base)}
    switches = [k for k in levers if k.startswith("touchpoints.")]
    assert switches == [f"touchpoints.{name}.enabled" for name in base.touchpoints]
    assert all(levers[k].kind == "bool" and levers[k].value is True for k in switches)
    assert model_params(base)["touchpoints.qbrs.enabled"]["type"] == "Checkbox"
    off = DashboardModel(base, replication=1, **{"touchpoints.sales_consultation.enabled": False})
    assert off.changes == {"touchpoints.sales_consultation.enabled": False}
    for _ in range(MONTHS):
        off.step()
    new = off.monthly.groupby("month")["new_customers"].sum()
    baseline = off.baseline_monthly.groupby("month")["new_customers"].sum()
    assert new.sum() < baseline.sum()  # the sales consultation lifts conversion


def test_model_params_are_mesa_inputs(base) -> None:
    params = model_params(base)
    assert params["base"] is base
    pro = params["pricing.plans.pro.price"]
    assert pro["type"] == "SliderFloat" and pro["value"] == 79.0 and pro["max"] == 237.0
    assert params["support.agents"]["type"] == "SliderInt"
    assert params["personas.solo.decision.card_required"]["type"] == "Checkbox"


def test_range_of_an_unknown_key_names_it() -> None:
    with pytest.raises(ConfigError, match=r"pricing\.plans\.pro\.prize: unknown key"):
        range_of("pricing.plans.pro.prize")


def _get(tree, key):
    for part in key.split("."):
        tree = tree[part]
    return tree


# ---------------------------------------------------------------------------- the model
def test_side_by_side_runs_both_on_common_random_numbers(base, stepped) -> None:
    assert stepped.month == MONTHS and not stepped.running
    # each side is exactly the stand-alone model of its parameters, same seed and replication
    for side, params in ((stepped.monthly, stepped.params), (stepped.baseline_monthly, base)):
        alone = JourneyModel(params, replication=1)
        alone.run(MONTHS)
        pd.testing.assert_frame_equal(side, records_to_frame(alone.records))
    assert stepped.params.pricing.plans["pro"].price == 99.0
    assert stepped.changes == {"pricing.plans.pro.price": 99.0}
    # the month-0 book is shared: same starting MRR; then the price moves MRR
    first = [
        m[m["month"] == 1]["mrr_start"].sum() for m in (stepped.monthly, stepped.baseline_monthly)
    ]
    assert first[0] == first[1]
    assert stepped.monthly["mrr_end"].sum() != stepped.baseline_monthly["mrr_end"].sum()
    stepped.step()  # past the horizon: nothing happens
    assert stepped.month == MONTHS


def test_unchanged_settings_differ_by_exactly_zero(base) -> None:
    model = DashboardModel(base, **{"support.agents": base.support.agents})
    model.step()
    model.step()
    assert model.changes == {}
    pd.testing.assert_frame_equal(model.monthly, model.baseline_monthly)
    text = readout(model)
    assert "Month 2 of 4" in text and "the baseline's" in text
    assert "| MRR |" in text and text.count(" | 0 |") >= 3


def test_refused_settings_are_shown_and_nothing_runs(base) -> None:
    model = DashboardModel(base, **{"pricing.annual_discount": 1.5})
    assert model.error is not None and "pricing.annual_discount" in model.error
    assert not model.running and model.journey is None
    model.step()
    assert model.month == 0 and model.monthly is None
    assert "refused" in readout(model)
    assert isinstance(view_figure("mrr_bridge", model), Figure)


def test_side_by_side_off_runs_one_model(base) -> None:
    model = DashboardModel(base, side_by_side=False)
    model.step()
    assert model.baseline is None and model.baseline_monthly is None
    assert "difference" not in readout(model)
    assert len(view_figure("difference", model).axes) == 1


def test_readout_gives_baseline_settings_and_difference(stepped) -> None:
    text = readout(stepped)
    assert "`pricing.plans.pro.price` 79.0 → 99.0" in text
    assert "| | baseline | these settings | difference |" in text
    mrr = next(line for line in text.splitlines() if line.startswith("| MRR |"))
    assert mrr.split("|")[4].strip()[0] in "+−"


# ---------------------------------------------------------------------------- plots
def _lines(fig: Figure) -> int:
    return sum(len(ax.get_lines()) for ax in fig.axes)


def _bars(fig: Figure) -> list[Rectangle]:
    return [p for ax in fig.axes for p in ax.patches if isinstance(p, Rectangle)]


def test_mrr_by_persona_draws_a_line_per_persona(stepped, base) -> None:
    personas = len(base.personas)
    fig = plot_mrr_by_persona(stepped.monthly)
    assert _lines(fig) == personas
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == list(base.personas)
    line = fig.axes[0].get_lines()[0]
    solo = stepped.monthly[stepped.monthly["persona"] == "solo"]
    np.testing.assert_allclose(line.get_ydata(), solo["mrr_end"].to_numpy())
    assert _lines(plot_mrr_by_persona(stepped.monthly, baseline=stepped.baseline_monthly)) == (
        2 * personas
    )


def test_mrr_bridge_draws_a_bar_per_month_and_component(stepped) -> None:
    fig = plot_mrr_bridge(stepped.monthly)
    bars = _bars(fig)
    assert len(bars) == MONTHS * (len(BRIDGE_PLUS) + len(BRIDGE_MINUS))
    total = stepped.monthly.groupby("month")["new_mrr"].sum().to_numpy()
    np.testing.assert_allclose([b.get_height() for b in bars[:MONTHS]], total, rtol=1e-6)
    assert _lines(fig) == 2  # net new MRR and the zero line


def test_funnel_draws_a_bar_per_stage(stepped) -> None:
    stages = len(STAGE_COLUMNS) - 1  # the unaware market is in the title
    assert len(_bars(plot_funnel(stepped.monthly))) == stages
    fig = plot_funnel(stepped.monthly, baseline=stepped.baseline_monthly)
    assert len(_bars(fig)) == 2 * stages
    assert "unaware" in fig.axes[0].get_title()


def test_support_and_difference_plots(stepped) -> None:
    fig = plot_support(stepped.monthly)
    assert len(fig.axes) == 2 and _lines(fig) == 4  # tickets, worked, backlog; SLA share
    fig = plot_difference(stepped.monthly, stepped.baseline_monthly, "mrr_end")
    bars = _bars(fig)
    assert len(bars) == MONTHS
    diff = (
        stepped.monthly.groupby("month")["mrr_end"].sum()
        - stepped.baseline_monthly.groupby("month")["mrr_end"].sum()
    )
    np.testing.assert_allclose([b.get_height() for b in bars], diff.to_numpy(), rtol=1e-6)


def test_every_view_draws(stepped) -> None:
    for name in VIEWS:
        fig = view_figure(name, stepped)
        assert fig.axes and any(ax.has_data() for ax in fig.axes), name


# ---------------------------------------------------------------------------- the browser
def _need(what: str, ok: bool) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"{what} is missing (make test installs it)")
        pytest.skip(f"{what} is missing (make test installs it)")


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    """Poll the server's port until it answers (fail if the server exits or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"the dashboard did not answer at {url} within {timeout:.0f} s")


def _artifacts() -> Path:
    out = Path(os.environ.get("JOURNEY_SIM_ARTIFACTS", ROOT / "tests" / "artifacts"))
    out.mkdir(parents=True, exist_ok=True)
    return out


READOUT = "const e = document.querySelector('.journey-readout'); return e ? e.innerText : '';"
IMAGES = (
    "return Object.fromEntries(Array.from(document.querySelectorAll('img.solara-image'))"
    ".map(e => [Array.from(e.classList).find(c => c.startsWith('journey-view-')), e.src]));"
)


def test_dashboard_in_headless_chromium(tmp_path: Path) -> None:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    _need("chromium", chromium is not None)
    _need("chromedriver", driver_path is not None)
    try:
        import solara  # noqa: F401
        from selenium import webdriver
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError as exc:
        _need(f"the dashboard's packages ({exc.name})", False)
        raise
    port = free_port("127.0.0.1")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "simulator", "task=dashboard", f"dashboard.port={port}"]
    command += [f"months={MONTHS + 8}", f"hydra.run.dir={tmp_path / 'run'}"]
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1600,1300",
    ):
        options.add_argument(arg)
    browser = None
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, server, timeout=180)
        browser = webdriver.Chrome(service=Service(driver_path), options=options)
        browser.set_page_load_timeout(60)
        browser.set_script_timeout(30)
        browser.get(url)
        wait = WebDriverWait(browser, 120, poll_frequency=0.2)

        def readout_has(text: str):
            def check(b) -> bool:
                body = b.execute_script("return document.body.innerText;")
                assert "Traceback" not in body, body  # an exception shown by Solara
                return text in b.execute_script(READOUT)

            return check

        def wait_for(text: str) -> None:
            try:
                wait.until(readout_has(text))
            except TimeoutException:
                pytest.fail(
                    f"the page never showed {text!r}; it shows:\n{browser.execute_script(READOUT)}"
                )

        wait_for("Month 0 of 12")
        wait.until(lambda b: len(b.execute_script(IMAGES)) == len(VIEWS))
        at_start = browser.execute_script(IMAGES)

        # drag the pro price slider's knob to the right (one change, on release); Reset applies it
        pro = '[role=slider][aria-label^="pro price"]'
        knob = browser.find_element(By.CSS_SELECTOR, f"{pro} .v-slider__thumb")
        drag = ActionChains(browser).click_and_hold(knob).move_by_offset(8, 0)
        drag.move_by_offset(8, 0).release().perform()
        price = float(browser.find_element(By.CSS_SELECTOR, pro).get_attribute("aria-valuenow"))
        assert 79 < price < 158, price  # above the default, below the enterprise plan's price
        # the slider's last value can reach the server after a click sent at once: press Reset
        # again until the page shows the model rebuilt with it
        applied = f"pricing.plans.pro.price 79.0 → {price}"
        for _ in range(10):
            _click(browser, wait, "Reset")
            try:
                WebDriverWait(browser, 10, poll_frequency=0.2).until(readout_has(applied))
                break
            except TimeoutException:
                continue
        wait_for(applied)

        # one step: the readout moves to month 1, every plot is redrawn
        _click(browser, wait, "Step")
        wait_for("Month 1 of 12")
        wait.until(lambda b: all(b.execute_script(IMAGES)[k] != v for k, v in at_start.items()))
        after_one = browser.execute_script(IMAGES)
        text = browser.execute_script(READOUT)
        mrr = next(line for line in text.splitlines() if line.startswith("MRR"))
        baseline, settings, difference = mrr.split("\t")[1:4]
        assert baseline != settings and difference[0] in "+−", mrr

        # a second step redraws every plot again
        _click(browser, wait, "Step")
        wait_for("Month 2 of 12")
        wait.until(lambda b: all(b.execute_script(IMAGES)[k] != v for k, v in after_one.items()))
        shot = _artifacts() / "dashboard_after_step.png"
        browser.save_screenshot(str(shot))
        print(f"\ndashboard screenshot: {shot}")
        assert shot.stat().st_size > 50_000
        severe = [
            e
            for e in browser.get_log("browser")
            if e["level"] == "SEVERE" and "katex" not in e["message"]
        ]
        assert not severe, severe
    finally:
        if browser is not None:
            browser.quit()
        _stop(server)


def _click(browser, wait, label: str) -> None:
    from selenium.webdriver.common.by import By

    xpath = f"//button[normalize-space()='{label}' or normalize-space()='{label.upper()}']"
    wait.until(lambda b: b.find_element(By.XPATH, xpath).is_enabled())
    browser.find_element(By.XPATH, xpath).click()


def _stop(server: subprocess.Popen) -> None:
    """Ctrl-C the server's process group; kill it if it has not exited within 20 s."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)
