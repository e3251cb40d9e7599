"""``python -m critic`` runs the command line."""

from critic.cli import main

main()
