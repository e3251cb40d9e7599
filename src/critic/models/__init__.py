"""Neural and linear models: their configurations, the PyTorch network and the NB-weighted
linear model."""
