"""Settings of ``journey-sim task=dashboard`` (``dashboard`` in ``configs/task/dashboard.yaml``):
where the dashboard's web server listens."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from simulator.bounds import Whole


class DashboardSettings(BaseModel):
    """Where the dashboard is served: ``http://<host>:<port>/`` (port 0: any free port)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)  # 127.0.0.1: this machine only; 0.0.0.0: every interface
    port: Whole(0, 65535)  # 0: a free port, printed at start
