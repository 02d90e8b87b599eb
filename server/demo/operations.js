// The GraphQL documents the demo sends, all from the public contract (shared/api/contract.graphql).

const PRODUCT_FIELDS = `
  id sku name category stock inStock status version
  price { amount currency }`;

// One page of results for the search and the selected categories, and the category facets of the
// search alone (first: 0), so every category stays on screen while one is selected.
export const SEARCH_PRODUCTS = `
  query SearchProducts($search: String, $categories: [String!]) {
    results: products(search: $search, filter: { category: $categories }, first: 24) {
      totalCount
      edges { node { ${PRODUCT_FIELDS} } }
    }
    everything: products(search: $search, first: 0) {
      facets { category { value count } }
    }
  }`;

// Every product change once it is searchable. `after` is the position of the last change this
// page saw: resubscribing with it replays whatever happened while the connection was down.
export const PRODUCT_CHANGED = `
  subscription ProductChanged($after: String) {
    productChanged(after: $after) {
      productId event position
      product { ${PRODUCT_FIELDS} }
    }
  }`;

export const REGISTER_CUSTOMER = `
  mutation RegisterCustomer($email: String!, $name: String!) {
    registerCustomer(input: { email: $email, name: $name }) {
      __typename
      ... on CustomerAccepted { id }
      ... on ValidationError { message }
      ... on DuplicateError { message }
    }
  }`;

export const PLACE_ORDER = `
  mutation PlaceOrder($customerId: ID!, $productId: ID!) {
    placeOrder(input: { customerId: $customerId, lines: [{ productId: $productId, quantity: 1 }] }) {
      __typename
      ... on OrderAccepted { id position }
      ... on InsufficientStockError { message available }
      ... on NotFoundError { message id }
      ... on ValidationError { message }
      ... on ConflictError { message }
      ... on InvalidStateError { message }
    }
  }`;

// Read-your-writes: `consistentWith` makes the read wait until the read model holds the order.
export const ORDER_STATUS = `
  query OrderStatus($id: ID!, $position: String!) {
    order(id: $id, consistentWith: $position) {
      id status
      total { amount currency }
    }
  }`;
