"""Articles to TF-IDF vectors (the vectorisers' fit, sharded and optionally on Dask)."""
