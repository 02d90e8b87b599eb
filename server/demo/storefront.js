// The demo storefront: search with category facets, live stock, and "Buy one".
import { followSubscription, request } from "./api.js";
import { ORDER_STATUS, PLACE_ORDER, PRODUCT_CHANGED, REGISTER_CUSTOMER, SEARCH_PRODUCTS } from "./operations.js";

const SEARCH_DELAY_MS = 250;
const CUSTOMER_KEY = "storefront-demo-customer";
const asksForToken = document.querySelector('meta[name="storefront-auth"]').content === "token";

const element = (testId, within = document) => within.querySelector(`[data-testid="${testId}"]`);
const searchBox = element("search");
const tokenBox = element("token");
const orderStatus = element("order-status");
const productList = document.getElementById("products");
const facetList = document.getElementById("facets");
const cardTemplate = document.getElementById("product-card");

const selectedCategories = new Set();
// The newest document seen of each product, from searches and notifications alike: an answer or
// a replayed notification older than what the page already showed never puts an older stock back.
const newestSeen = new Map();
// Position of the last change notification seen, to resume from after a dropped connection.
let lastPosition = null;

// ------------------------------------------------------------------ search and facets

let searchRun = 0;

async function search() {
  const run = ++searchRun; // answers that arrive after a newer search started are dropped
  const categories = selectedCategories.size ? [...selectedCategories] : null;
  const data = await request(SEARCH_PRODUCTS, { search: searchBox.value.trim() || null, categories });
  if (run !== searchRun) return;
  element("total").textContent = data.results.totalCount;
  showFacets(data.everything.facets.category);
  productList.replaceChildren(...data.results.edges.map(({ node }) => productCard(node)));
}

function showFacets(buckets) {
  facetList.replaceChildren(...buckets.map(({ value, count }) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.testid = "facet";
    button.dataset.value = value;
    button.textContent = `${value} (${count})`;
    button.setAttribute("aria-pressed", String(selectedCategories.has(value)));
    button.addEventListener("click", () => {
      if (!selectedCategories.delete(value)) selectedCategories.add(value);
      search().catch(showError);
    });
    return button;
  }));
}

function productCard(product) {
  const card = cardTemplate.content.firstElementChild.cloneNode(true);
  card.dataset.id = product.id;
  card.querySelector(".name").textContent = product.name;
  card.querySelector(".category").textContent = product.category;
  card.querySelector(".price").textContent = `${product.price.amount} ${product.price.currency}`;
  element("buy", card).addEventListener("click", () => buyOne(product.id).catch(showError));
  showStock(card, newest(product));
  return card;
}

function newest(product) {
  const known = newestSeen.get(product.id);
  if (known && known.version > product.version) return known;
  newestSeen.set(product.id, product);
  return product;
}

function showStock(card, product) {
  element("stock", card).textContent = product.stock;
  element("buy", card).disabled = !product.inStock || product.status !== "ACTIVE";
}

// ------------------------------------------------------------------ live stock

function onProductChanged({ productChanged: change }) {
  lastPosition = change.position;
  if (!change.product) return;
  const product = newest(change.product);
  const card = productList.querySelector(`[data-testid="product"][data-id="${CSS.escape(product.id)}"]`);
  if (card) showStock(card, product);
}

followSubscription({
  document: PRODUCT_CHANGED,
  resumeFrom: () => ({ after: lastPosition }),
  onData: onProductChanged,
  onState: (state, reconnected) => {
    element("connection").textContent = state;
    // No change seen yet, so nothing to resume from: read the page afresh instead.
    if (reconnected && lastPosition === null) search().catch(showError);
  },
  token: () => tokenBox.value.trim(),
});

// ------------------------------------------------------------------ buy one

async function buyOne(productId, registeredAnew = false) {
  const customerId = await currentCustomer();
  if (!customerId) return;
  orderStatus.textContent = "Placing the order…";
  const token = tokenBox.value.trim();
  const { placeOrder: result } = await request(PLACE_ORDER, { customerId, productId }, token);
  if (result.__typename === "NotFoundError" && result.id === customerId && !asksForToken && !registeredAnew) {
    localStorage.removeItem(CUSTOMER_KEY); // a customer of another database: register anew
    return buyOne(productId, true);
  }
  if (result.__typename !== "OrderAccepted") {
    orderStatus.textContent = `Not placed: ${result.message}`;
    return;
  }
  // The order is committed; reading it consistent with its position waits for the read model.
  const { order } = await request(ORDER_STATUS, { id: result.id, position: result.position }, token);
  orderStatus.textContent = `Order ${order.id}: ${order.status}, ${order.total.amount} ${order.total.currency}`;
}

/** The customer who buys: the `sub` of the token typed in, or a demo customer registered once. */
async function currentCustomer() {
  if (asksForToken) {
    const token = tokenBox.value.trim();
    if (!token) {
      orderStatus.textContent = "Enter a customer token to buy.";
      tokenBox.focus();
      return null;
    }
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  }
  let id = localStorage.getItem(CUSTOMER_KEY);
  if (!id) {
    // Not crypto.randomUUID(): that exists only in secure contexts, and the demo may be plain http.
    const email = `demo-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}@example.com`;
    const { registerCustomer: result } = await request(REGISTER_CUSTOMER, { email, name: "Demo shopper" });
    if (result.__typename !== "CustomerAccepted") throw new Error(result.message);
    id = result.id;
    localStorage.setItem(CUSTOMER_KEY, id);
  }
  return id;
}

// ------------------------------------------------------------------ wiring

function showError(error) {
  orderStatus.textContent = `Something went wrong: ${error.message}`;
}

let searchTimer;
searchBox.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => search().catch(showError), SEARCH_DELAY_MS);
});
document.getElementById("account").hidden = !asksForToken;
search().catch(showError);
