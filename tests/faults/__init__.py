"""Fault tests: what an operator meets in production, against real processes and stores."""
