"""journey-sim's Hydra launcher: sweep jobs in parallel local processes (hydra/launcher=pool)."""
