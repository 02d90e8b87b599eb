"""Development services for storefront-cqrs; never part of the product wheel.

State lives in the data folder of the project (``[tool.storefront-devtools] data-dir`` of its
pyproject.toml, ``.devtools/``), found by :class:`devtools.project.Project`.
"""
