"""What a forked job process of ``PoolLauncher`` needs, set by the launcher just before it forks.

A module of its own whose name starts with ``_``: Hydra's plugin scan (which runs again in every
job process) executes each plugin module again, rebinding its globals, but skips these."""

from typing import Any

STATE: dict[str, Any] = {}
