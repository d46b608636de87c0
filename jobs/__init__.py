"""arq job functions; `worker.py` registers them. Each job gets its resources from `ctx`."""
