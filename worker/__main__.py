"""``python -m worker`` runs the ``digest`` command."""

from worker.cli import main

main()
