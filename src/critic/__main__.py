"""``python -m critic`` runs the command line."""

from critic.cli import main

# Guarded: a spawned worker process (the figure worker) imports the main module again.
if __name__ == "__main__":
    main()
