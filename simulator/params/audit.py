"""Settings of a touchpoint audit (``audit`` in ``configs/task/audit.yaml``).

Validated with the rest of the run settings, before any simulation; whether the touchpoints
named exist in the scenario is checked by ``simulator.experiments.audit.check_audit`` (also
before any simulation).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from simulator.bounds import Number, Whole


class AuditSettings(BaseModel):
    """What ``task=audit`` measures (``simulator.experiments.audit``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # points of reach added to every persona a touchpoint reaches, for its marginal return
    reach_step: Number(0.0, 1.0, lo_open=True)
    touchpoints: list[str] | None  # the touchpoints to audit; null: every one in the scenario
    drop_offs: Whole(1, 1000)  # stage transitions listed as areas to optimise
    # built-in programmes to audit (simulator.programmes); null: every one, []: none
    programmes: list[str] | None = None
    # share of a programme's spend or capacity added for its marginal return
    spend_step: Number(0.0, 1.0, lo_open=True) = 0.10
