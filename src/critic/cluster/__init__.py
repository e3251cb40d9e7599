"""Beyond one machine: ``--cluster`` runs critic's work on a Ray cluster (``critic[ray]``).

- :mod:`critic.cluster.connect`: join a cluster (or start one), failures as one line;
- :mod:`critic.cluster.shards`: a stream dealt to a cluster's workers;
- :mod:`critic.cluster.predict`: ``critic predict --cluster`` (Ray Data);
- :mod:`critic.cluster.pools`: sweeps as Ray tasks.

Training on a cluster belongs to each model family (``models/<family>/cluster.py``).
"""
