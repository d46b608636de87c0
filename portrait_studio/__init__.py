"""The one entry point: `portrait-studio bot|worker|all` (also `python -m portrait_studio`)."""
