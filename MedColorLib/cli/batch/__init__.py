"""``medcolor batch``: many volumes as Dask tasks (a local cluster of worker processes or an existing one)."""
