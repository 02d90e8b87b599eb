"""The composition root: settings, wiring, the Starlette app and the command line."""
