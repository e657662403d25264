"""``python -m simulator`` is the ``journey-sim`` command."""

from simulator.cli import main

main()
