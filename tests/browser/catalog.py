"""The products the browser tests shop in, and changes to them that return once searchable."""

from __future__ import annotations

from typing import Any

from tests.e2e.operations import ADJUST_STOCK, CREATE_PRODUCT
from tests.support import Api

# sku: (name, category, initial stock)
CATALOG = {
    "MUG-1": ("Blue mug", "kitchen", 3),
    "MUG-2": ("Red mug", "kitchen", 4),
    "POT-1": ("Teapot", "kitchen", 2),
    "HOSE-1": ("Garden hose", "garden", 5),
    "RAKE-1": ("Rake", "garden", 1),
}
READ_PRODUCT = "query($id: ID!, $position: String) { product(id: $id, consistentWith: $position) { stock } }"


async def add_catalog(api: Api) -> dict[str, str]:
    """Creates CATALOG and waits until all of it is searchable; the product ids by SKU."""
    ids, position = {}, None
    for sku, (name, category, stock) in CATALOG.items():
        variables = {"input": {"sku": sku, "name": name, "category": category, "price": "9.90",
                               "initialStock": stock}}
        created = (await api(CREATE_PRODUCT, variables))["createProduct"]
        ids[sku], position = created["id"], created["position"]
    await api(READ_PRODUCT, {"id": ids["MUG-1"], "position": position})
    return ids


async def adjust_stock(api: Api, product_id: str, delta: int) -> dict[str, Any]:
    """adjustStock, returned once the change is searchable."""
    adjusted: dict[str, Any] = (await api(ADJUST_STOCK, {"input": {"productId": product_id, "delta": delta}}))[
        "adjustStock"]
    await api(READ_PRODUCT, {"id": product_id, "position": adjusted["position"]})
    return adjusted


