"""The printed sections of the benchmark report (A to E); ``report.py`` prints the header, the
figures against targets and writes the JSON file."""

from __future__ import annotations

from typing import Any

from yardstick import SIMPLE_MECHANISMS, Z_LIMIT, dispersion

w = print


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def line(label: str, value: str, width: int = 38) -> None:
    w(f"   {label:<{width}}{value}")


def runs(seconds: list[float], digits: int = 2) -> str:
    return ", ".join(f"{s:.{digits}f}" for s in seconds)


# ---------------------------------------------------------------------------- A
def print_steps(st: dict[str, Any]) -> None:
    """Where the time goes: ns per customer-month of each row of ``STEPS``, in step order."""
    if "skipped" in st:
        w(f"\n   where the time goes: per-step table skipped ({st['skipped']})")
        return
    w(
        f"\n   where the time goes, per step of STEPS (one more run, timed by the model: "
        f"{st['run_s']:.2f} s = {st['ns_per_customer_month']:.1f} ns per customer-month; "
        f"{st['called_as']})"
    )
    w(f"      {'step':<42}{'s':>7}   {'ns/customer-month':>17}")

    def row(name: str, v: dict[str, float]) -> None:
        w(f"      {name:<42}{v['s']:7.3f}   {v['ns_per_customer_month']:17.1f}")

    for name, v in st["steps"].items():
        row(name, v)
    row("(outside the steps: month set-up, records)", st["outside_steps"])
    for label, v in st["draws"].items():
        row(f"  of which inside steps: {label}", v)


def print_full(res: dict[str, Any]) -> None:
    a, mem, funnel = res["full"], res["memory"], res.get("funnel")
    w(
        f"A. Full engine: default scenario, every mechanism on, {fmt_int(a['rows'])} customers, "
        f"{a['months']} months, 1 replication"
    )
    w("   overrides: " + " ".join(res["full_overrides"]))
    line("set-up (population, initial book)", f"{a['setup_s']:.2f} s")
    line(
        f"run, {a['months']} months, wall",
        f"{a['run_median_s']:.2f} s (median of: {runs(a['run_s'])})",
    )
    line(f"run, {a['months']} months, CPU", f"{a['run_cpu_median_s']:.2f} s")
    line(
        "customer-months = rows × months",
        f"{fmt_int(a['customer_months'])} → {a['ns_per_customer_month']:.1f} ns each "
        f"(fastest run {a['ns_per_customer_month_min']:.1f}, "
        f"CPU {a['ns_per_customer_month_cpu']:.1f})",
    )
    line(
        "paying customer-months",
        f"{fmt_int(a['paying_customer_months'])} → {a['ns_per_paying_customer_month']:.1f} ns each",
    )
    line(
        "traced peak memory (child process)",
        f"{mem['traced_peak_bytes'] / 2**20:.1f} MiB = {mem['peak_bytes_per_customer']:.1f} bytes "
        "per customer",
    )
    row_bytes = res["population_row_bytes"]
    line("population struct of arrays", f"{sum(row_bytes.values())} bytes per row:")
    w("      " + ", ".join(f"{k} {v}" for k, v in row_bytes.items()))
    line(
        "+ MRR change log (2 copies + changes)",
        f"{mem['mrr_history_bytes_per_row']:.1f} bytes per row",
    )
    if a.get("rss_peak_bytes") and a.get("rss_before_bytes"):
        rise = (a["rss_peak_bytes"] - a["rss_before_bytes"]) / a["rows"]
        line("peak RSS rise in the timed run", f"{rise:.1f} bytes per customer")
    if "steps" in res:
        print_steps(res["steps"])
    if funnel:
        w("")
        w(
            f"   with prospects: {fmt_int(funnel['rows'])} rows ({fmt_int(a['rows'])} customers + "
            f"{fmt_int(funnel['rows'] - a['rows'])} prospects), run {funnel['run_median_s']:.2f} s:"
            f" {funnel['ns_per_customer_month']:.1f} ns per row-month, "
            f"{funnel['ns_per_paying_customer_month']:.1f} ns per paying customer-month"
        )


# ---------------------------------------------------------------------------- B
def print_pairs(c: dict[str, Any]) -> None:
    """One size of the comparison: the runs of each implementation and the speed-ups."""
    w(
        f"   at {fmt_int(c['rows'])} accounts ({fmt_int(c['initial_customers'])} customers at "
        f"month 0), {c['repeat']} pair{'s' * (c['repeat'] != 1)} (engine run, then Mesa run), "
        "set-up excluded:"
    )
    w(
        f"      Mesa, one CustomerAgent per account: set-up {c['mesa_setup_s']:6.2f} s, runs "
        f"{runs(c['mesa_run_s'], 3)} s = {c['mesa_ns_per_customer_month']:,.1f} ns per "
        "customer-month (median)"
    )
    w(
        f"      engine, same journey and size:       set-up {c['engine_setup_s']:6.2f} s, runs "
        f"{runs(c['engine_run_s'], 3)} s = {c['engine_ns_per_customer_month']:,.1f} ns per "
        "customer-month (median)"
    )
    w(
        f"      speed-up of each pair {', '.join(f'{r:.1f}×' for r in c['speedups'])}: "
        f"min {c['speedup_min']:.1f}×, median {c['speedup_median']:.1f}× "
        f"(CPU time, median: {c['speedup_cpu_median']:.1f}×)"
    )


def print_yardstick(y: dict[str, Any]) -> None:
    w(f"B. Yardstick: simplified journey, {y['months']} months, the rest of the accounts prospects")
    w(
        "   mechanisms on: " + ", ".join(SIMPLE_MECHANISMS) + " (all others off); "
        "health.churn_sensitivity=0; churn.concentration=null"
    )
    print_pairs(y)
    w(
        f"      Mesa with shuffle_do (random activation order) instead, one run: "
        f"{y['mesa_shuffle_ns_per_customer_month']:,.1f} ns per customer-month = "
        f"{y['mesa_shuffle_ns_per_customer_month'] / y['engine_ns_per_customer_month']:.1f}× "
        "the engine"
    )
    if "small" in y:
        sm = y["small"]
        print_pairs(sm)
        # Two sizes give the engine's cost per month in this journey as fixed + per account.
        big_ms = y["engine_ns_per_customer_month"] * y["rows"] * 1e-6
        small_ms = sm["engine_ns_per_customer_month"] * sm["rows"] * 1e-6
        per_account = (big_ms - small_ms) / (y["rows"] - sm["rows"]) * 1e6
        fixed = small_ms - per_account * sm["rows"] * 1e-6
        w(
            f"   the engine's cost per month in this journey, from the two sizes: {fixed:.2f} ms "
            f"fixed + {per_account:.2f} ns per account"
        )
    w("")
    k = y.get("mesa_runs", 1)
    n = y["engine_replications"]
    mesa_what = "the first Mesa run" if k == 1 else f"Mesa mean ± sd of {k} runs"
    w(
        f"   Agreement at month {y['months']} (counts; flows summed over the run): expected "
        f"(mean-field), engine mean ± sd of {n} replications, {mesa_what}; z"
    )
    if k > 1:
        w(
            f"   (z = difference / (sd of one run pooled over the {n} + {k} runs × √(1/{n}), "
            f"√(1/{k}), √(1/{n} + 1/{k})))"
        )
    mesa_sd_head = f"{'Mesa sd':>12}" if k > 1 else ""
    w(
        f"   {'persona':<11}{'figure':<22}{'expected':>11}{'engine mean':>13}{'sd':>12}"
        f"{'Mesa':>14}{mesa_sd_head}{'z eng-E':>9}{'z Mesa-E':>9}{'z Mesa-eng':>11}"
    )

    def zf(z: float | None) -> str:
        return "" if z is None else f"{z:+.2f}"

    for r in y["agreement"]:
        if r["engine_mean"] == 0 and r["mesa"] == 0 and not r["expected"]:
            continue
        exp = "" if r["expected"] is None else f"{r['expected']:,.1f}"
        mesa_sd = f"{r['mesa_sd']:>12,.1f}" if k > 1 else ""
        w(
            f"   {r['persona']:<11}{r['figure']:<22}{exp:>11}{r['engine_mean']:>13,.1f}"
            f"{r['engine_sd']:>12,.1f}{r['mesa']:>14,.1f}{mesa_sd}"
            f"{zf(r['z_engine_vs_expected']):>9}{zf(r['z_mesa_vs_expected']):>9}"
            f"{zf(r['z_mesa_vs_engine']):>11}"
        )
    w(f"   largest |z| = {y['max_abs_z']:.2f} (limit {Z_LIMIT:g})")
    d = dispersion(y["agreement"], n, k)
    if d:
        w(
            f"   spread: F = (Mesa sd / engine sd)², median {d['median_f']:.2f} (same law: "
            f"{d['null_median_f']:.2f}); above 1 in {d['mesa_above']} of {d['rows']} rows "
            f"(same law: {d['expected_above']:.1f}, binomial p {d['binomial_p']:.2f}); smallest p "
            f"{d['smallest_p']:.3f} ({d['smallest_p_row']}, F {d['smallest_p_f']:.2f} on "
            f"{k - 1} and {n - 1} df; Bonferroni limit {d['bonferroni']:.4f})"
        )


# ---------------------------------------------------------------------------- C
def print_monte_carlo(mc: dict[str, Any]) -> None:
    w(
        f"C. Monte Carlo: {fmt_int(mc['customers'])} paying customers in a "
        f"{fmt_int(mc['market'])}-account market, {mc['months']} months, default scenario, plots "
        "off; simulate(load_config([...])) with the tables assembled, Hydra composition included"
    )
    mix = (
        "the default initial.mix (accepted for this market)"
        if mc["default_mix"]
        else "initial.mix = the market shares (the default mix does not fit this market)"
    )
    w(f"   book split by {mix}")
    w("   overrides: " + " ".join(mc["pool_overrides"]))
    line(
        f"local pool, {mc['workers']} workers, unpinned",
        f"{fmt_int(mc['replications'])} replications in {mc['pool_s']:.1f} s = "
        f"{mc['pool_s_per_replication'] * 1e3:.1f} ms each → {mc['pool_s_per_1000']:.1f} s "
        "per 1,000",
        44,
    )
    line(
        "serial (executor=serial), pinned core",
        f"{fmt_int(mc['serial_replications'])} replications in {mc['serial_s']:.1f} s = "
        f"{mc['serial_s_per_replication'] * 1e3:.1f} ms each → {mc['serial_s_per_1000']:.1f} s "
        "per 1,000 (extrapolated)",
        44,
    )
    line("pool speed-up over serial", f"{mc['pool_speedup']:.2f}×", 44)
    line(
        "local pool, one replication per worker",
        f"{mc['pool_one_per_worker_replications']} replications in "
        f"{mc['pool_one_per_worker_s']:.1f} s (fresh process: pool start-up + one replication "
        "each)",
        44,
    )
    line(
        "serial, CPU time of this process",
        f"{mc['serial_cpu_s_per_replication'] * 1e3:.1f} ms per replication",
        44,
    )
    load = ", ".join(f"{x:.2f}" for x in mc["loadavg_before"])
    after = ", ".join(f"{x:.2f}" for x in mc["loadavg_after_pool"])
    line("machine load average (1, 5, 15 min)", f"before the pool {load}; after it {after}", 44)


# ---------------------------------------------------------------------------- D
def print_fit(fit: dict[str, Any]) -> None:
    f, fc, ff = fit["fit"], fit["fit_cpu"], fit["fit_fastest"]
    w(
        f"D. Fixed cost per month: the workload of C scaled to each market size "
        f"({fit['book_share']:.0%} of it paying at month 0, the default initial.mix, support "
        "agents and CSMs scaled with the book, channel spend and saturation with the market), "
        f"{fit['months']} months, {fit['repeat']} runs per size, the sizes in turn"
    )
    w(
        "   run time per month (set-up excluded) against rows; least squares through the medians "
        "of the wall time"
    )
    w(
        f"   {'accounts':>10}{'customers':>11}{'set-up s':>10}   {'runs (wall), s':<36}"
        f"{'wall ms/mo':>11}{'CPU ms/mo':>10}{'fit':>8}{'resid.':>8}"
    )
    for p, r in zip(fit["points"], f["residuals_ms"], strict=True):
        fitted = p["ms_per_month"] - r
        w(
            f"   {p['market']:>10,}{p['customers']:>11,}{p['setup_s']:>10.2f}   "
            f"{runs(p['run_s'], 3):<36}{p['ms_per_month']:>11.3f}{p['ms_per_month_cpu']:>10.3f}"
            f"{fitted:>8.3f}{r:>+8.3f}"
        )

    def fitted(label: str, v: dict[str, Any]) -> None:
        w(
            f"   {label}: {v['fixed_ms_per_month']:.3f} ± {v['fixed_ms_per_month_se']:.3f} ms "
            f"fixed per month + {v['ns_per_account_month']:.2f} ± "
            f"{v['ns_per_account_month_se']:.2f} ns "
            f"per account-month (largest |residual| "
            f"{max(abs(r) for r in v['residuals_ms']):.3f} ms)"
        )

    fitted("fit, wall time (medians)", f)
    fitted("fit, CPU time (medians)", fc)
    fitted("fit, wall time (fastest)", ff)
    w("   (± one standard error)")


# ---------------------------------------------------------------------------- E
def print_big(big: dict[str, Any]) -> None:
    if "skipped" in big:
        w(f"E. Long run: skipped ({big['skipped']})")
        return
    w(
        f"E. Long run: {fmt_int(big['rows'])} accounts × {big['months']} months, default scenario "
        f"scaled as in D ({fmt_int(big['customers'])} customers at month 0), 1 replication, child "
        "process"
    )
    w("   overrides: " + " ".join(big["overrides"]))
    line("set-up (population, initial book)", f"{big['setup_s']:.2f} s")
    line(
        f"run, {big['months']} months, wall",
        f"{big['run_s']:.2f} s = {big['ns_per_account_month']:.1f} ns per account-month, "
        f"{big['ns_per_paying_customer_month']:.1f} ns per paying customer-month",
    )
    line(
        "paying customers at the end",
        f"{fmt_int(big['customers_end'])} ({fmt_int(big['paying_customer_months'])} paying "
        "customer-months)",
    )
    line(
        "peak RSS of the child process",
        f"{big['peak_rss_bytes'] / 2**30:.2f} GiB = {big['peak_rss_bytes_per_account']:.1f} bytes "
        f"per account (before set-up: {big['rss_before_setup_bytes'] / 2**20:.0f} MiB; rise "
        f"{big['rss_rise_bytes_per_account']:.1f} bytes per account)",
    )
