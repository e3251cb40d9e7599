"""Experiments that drive the pipeline and write run folders: reproduce, sweep, cross-validation,
leaderboard, and the report that reads them."""
