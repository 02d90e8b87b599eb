"""A development PostgreSQL cluster: ``storefront postgres start|stop|status``."""
