"""GraphQL documents the end-to-end tests send."""

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
