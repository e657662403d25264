"""journey-sim: an agent-based simulator of the SaaS customer journey.

Quick start::

    from simulator import load_config, simulate
    cfg = load_config(["pricing.plans.pro.price=99", "months=24", "replications=20"])
    res = simulate(cfg)
    res.monthly          # tidy table: one row per scenario/replication/month/persona
    res.summary()        # headline metrics, median and P10/P90 across replications
    res.save("out/")     # monthly.parquet, summary.json, plots
    params = replace(res.params, {"pricing.plans.pro.price": 109})   # a validated variant
    simulate(params)     # no Hydra: what optimisers and samplers call
    cmp = compare(cfg, {"price_up": ["pricing.plans.pro.price=109"]})  # paired differences
    print(cmp.format())  # P10/P50/P90 of the paired difference and a verdict, per metric
    curve = price_response(cfg, "pricing.plans.pro.price", [59, 79, 99, 119])  # paired grid
    opt = optimize(cfg, {"pricing.plans.pro.price": (59, 149)}, objective="ending_arr",
                   constraints={"max_monthly_logo_churn": 0.05}, trials=24)  # Optuna search
    sens = sensitivity(cfg, {"pricing.plans.pro.price": (59, 119), "support.agents": (6, 14)},
                       method="sobol", metric="ending_arr", n=64)  # Sobol S1/ST (SALib)
    cohort_matrix(res, kind="logo")   # retention by cohort month × months since acquisition
    export_book(res, "book.csv", month=24)   # a simulated month as a book (initial.book)
    report(res, "out/")  # finance report: out/report.html (self-contained), out/report.md
    journey_map(res)     # per persona and stage: stock, entries, conversion, drop-off, stays
    aud = audit(cfg)     # each touchpoint's paired ablation: value, cost, ROI; drop-offs
    cac_by_channel(res)  # CAC by acquisition source and persona, per replication (simulator.cac)
"""

from simulator.book_csv import export_book
from simulator.cac import cac_by_channel
from simulator.cohorts import cohort_matrix, cohort_table
from simulator.config import load_config
from simulator.errors import ConfigError
from simulator.experiments.audit import AuditResult, audit
from simulator.experiments.compare import ComparisonResult, compare
from simulator.experiments.montecarlo import SimulationResult, simulate
from simulator.experiments.optimize import OptimizationResult, optimize
from simulator.experiments.response import ResponseResult, price_response
from simulator.experiments.sensitivity import SensitivityResult, sensitivity
from simulator.journey import journey_map
from simulator.model import JourneyModel
from simulator.params import replace
from simulator.programmes import programmes
from simulator.report import Report, report
from simulator.stages import Stage

__all__ = [
    "AuditResult",
    "ComparisonResult",
    "ConfigError",
    "JourneyModel",
    "OptimizationResult",
    "Report",
    "ResponseResult",
    "SensitivityResult",
    "SimulationResult",
    "Stage",
    "audit",
    "cac_by_channel",
    "cohort_matrix",
    "cohort_table",
    "compare",
    "export_book",
    "journey_map",
    "load_config",
    "optimize",
    "price_response",
    "programmes",
    "replace",
    "report",
    "sensitivity",
    "simulate",
]
__version__ = "0.1.0"
