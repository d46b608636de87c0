"""arq job functions; `worker.py` registers them. Each job takes its resources from `ctx`
through `jobs.resources.resources`."""
