"""User-facing errors: one clear message naming the key, never a traceback."""

from __future__ import annotations


class ConfigError(ValueError):
    """A scenario configuration is invalid. ``problems`` lists (key, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = [f"  {key}: {msg}" for key, msg in problems]
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"invalid configuration ({len(problems)} {noun}):\n" + "\n".join(lines))
