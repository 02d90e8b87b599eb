"""GraphQL documents the end-to-end tests send, and the two sends most of them share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support import Api

PRODUCT_FIELDS = """
  id sku name description category tags price { amount currency } stock inStock status version
  createdAt updatedAt
"""

CREATE_PRODUCT = """
mutation Create($input: CreateProductInput!) {
  createProduct(input: $input) {
    __typename
    ... on ProductAccepted { id version position }
    ... on ValidationError { message fields { field message } }
    ... on DuplicateError { message field }
  }
}
"""

CREATE_AND_READ_PRODUCT = f"""
mutation CreateAndRead($input: CreateProductInput!) {{
  createProduct(input: $input) {{
    ... on ProductAccepted {{ id version position product {{ {PRODUCT_FIELDS} }} }}
  }}
}}
"""

UPDATE_PRODUCT = """
mutation Update($input: UpdateProductInput!) {
  updateProduct(input: $input) {
    __typename
    ... on ProductAccepted { id version position }
    ... on ValidationError { message fields { field message } }
    ... on ConflictError { message expectedVersion actualVersion }
    ... on NotFoundError { message id }
    ... on InvalidStateError { message currentStatus }
  }
}
"""

DISCONTINUE_PRODUCT = """
mutation Discontinue($input: DiscontinueProductInput!) {
  discontinueProduct(input: $input) {
    __typename
    ... on ProductAccepted { id version position }
    ... on ConflictError { message expectedVersion actualVersion }
    ... on InvalidStateError { message currentStatus }
  }
}
"""

ADJUST_STOCK = """
mutation Adjust($input: AdjustStockInput!) {
  adjustStock(input: $input) {
    __typename
    ... on ProductAccepted { id version position }
    ... on ValidationError { message fields { field message } }
    ... on ConflictError { message expectedVersion actualVersion }
  }
}
"""

SEARCH_PRODUCTS = f"""
query Search($search: String, $filter: ProductFilter, $sort: ProductSort, $first: Int, $after: String,
             $consistentWith: String) {{
  products(search: $search, filter: $filter, sort: $sort, first: $first, after: $after,
           consistentWith: $consistentWith) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    facets {{ category {{ value count }} tags {{ value count }} }}
    edges {{ cursor node {{ {PRODUCT_FIELDS} }} }}
  }}
}}
"""

PRODUCT = f"""
query One($id: ID!, $consistentWith: String) {{
  product(id: $id, consistentWith: $consistentWith) {{ {PRODUCT_FIELDS} }}
}}
"""

SYNC_STATUS = "{ syncStatus { headPosition indexedPosition lag deadLetters } }"

CUSTOMER_FIELDS = "id email name orderCount totalSpent { amount currency } version createdAt updatedAt"

ORDER_FIELDS = """
  id customerId customerName status total { amount currency } version placedAt updatedAt
  lines { productId sku name quantity unitPrice { amount currency } lineTotal { amount currency } }
"""

REGISTER_CUSTOMER = """
mutation Register($input: RegisterCustomerInput!) {
  registerCustomer(input: $input) {
    __typename
    ... on CustomerAccepted { id version position }
    ... on ValidationError { message fields { field message } }
    ... on DuplicateError { message field }
  }
}
"""

REGISTER_AND_READ_CUSTOMER = f"""
mutation RegisterAndRead($input: RegisterCustomerInput!) {{
  registerCustomer(input: $input) {{ ... on CustomerAccepted {{ id position customer {{ {CUSTOMER_FIELDS} }} }} }}
}}
"""

ERASE_CUSTOMER = f"""
mutation Erase($input: EraseCustomerInput!) {{
  eraseCustomer(input: $input) {{
    __typename
    ... on CustomerAccepted {{ id version position customer {{ {CUSTOMER_FIELDS} }} }}
    ... on NotFoundError {{ message id }}
    ... on ConflictError {{ message expectedVersion actualVersion }}
    ... on InvalidStateError {{ message currentStatus }}
  }}
}}
"""

_ORDER_RESULT = """
    __typename
    ... on OrderAccepted { id version position }
    ... on ValidationError { message fields { field message } }
    ... on NotFoundError { message id }
    ... on ConflictError { message expectedVersion actualVersion }
    ... on InsufficientStockError { message productId requested available }
    ... on InvalidStateError { message currentStatus }
"""

PLACE_ORDER = f"mutation Place($input: PlaceOrderInput!) {{ placeOrder(input: $input) {{ {_ORDER_RESULT} }} }}"
CANCEL_ORDER = f"mutation Cancel($input: CancelOrderInput!) {{ cancelOrder(input: $input) {{ {_ORDER_RESULT} }} }}"
SHIP_ORDER = f"mutation Ship($input: ShipOrderInput!) {{ shipOrder(input: $input) {{ {_ORDER_RESULT} }} }}"

PLACE_AND_READ_ORDER = f"""
mutation PlaceAndRead($input: PlaceOrderInput!) {{
  placeOrder(input: $input) {{ ... on OrderAccepted {{ id position order {{ {ORDER_FIELDS} }} }} }}
}}
"""

CUSTOMER = f"""
query Customer($id: ID!, $consistentWith: String) {{
  customer(id: $id, consistentWith: $consistentWith) {{ {CUSTOMER_FIELDS} }}
}}
"""

CUSTOMERS = f"""
query Customers($search: String, $first: Int, $after: String, $consistentWith: String) {{
  customers(search: $search, first: $first, after: $after, consistentWith: $consistentWith) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {CUSTOMER_FIELDS} }} }}
  }}
}}
"""

ORDER = f"""
query Order($id: ID!, $consistentWith: String) {{
  order(id: $id, consistentWith: $consistentWith) {{ {ORDER_FIELDS} }}
}}
"""

ORDERS = f"""
query Orders($filter: OrderFilter, $sort: OrderSort, $first: Int, $after: String, $consistentWith: String) {{
  orders(filter: $filter, sort: $sort, first: $first, after: $after, consistentWith: $consistentWith) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {ORDER_FIELDS} }} }}
  }}
}}
"""


async def create_product(api: Api, sku: str, stock: int = 5) -> dict[str, Any]:
    """createProduct with a name made from the SKU, category "c", price 2.50; its ProductAccepted."""
    variables = {"input": {"sku": sku, "name": f"Item {sku}", "category": "c", "price": "2.50", "initialStock": stock}}
    created: dict[str, Any] = (await api(CREATE_PRODUCT, variables))["createProduct"]
    return created


async def adjust_stock(api: Api, product_id: str, delta: int) -> dict[str, Any]:
    adjusted: dict[str, Any] = (await api(ADJUST_STOCK, {"input": {"productId": product_id, "delta": delta}}))[
        "adjustStock"]
    return adjusted
