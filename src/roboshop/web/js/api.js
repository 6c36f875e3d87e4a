// The shop's API, same origin only. Errors carry the service's own words (its text body, or a problem's detail),
// because the shopper should see "incorrect password", not "HTTP 404".

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const init = { method, headers: { Accept: "application/json, text/plain" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "the shop cannot be reached; check your connection");
  }
  const type = response.headers.get("Content-Type") || "";
  const text = await response.text();
  if (!response.ok) {
    throw new ApiError(response.status, errorText(type, text, response.status));
  }
  return type.includes("json") && text ? JSON.parse(text) : text;
}

function errorText(type, text, status) {
  if (type.includes("json")) {
    try {
      const problem = JSON.parse(text);
      return String(problem.detail || problem.title || status);
    } catch {
      return text || String(status);
    }
  }
  return text.trim() || "the shop answered " + status;
}

const part = encodeURIComponent;

export const api = {
  categories: () => call("GET", "/api/catalogue/categories"),
  products: () => call("GET", "/api/catalogue/products"),
  category: (name) => call("GET", `/api/catalogue/products/${part(name)}`),
  product: (sku) => call("GET", `/api/catalogue/product/${part(sku)}`),
  search: (text) => call("GET", `/api/catalogue/search/${part(text)}`),
  rating: (sku) => call("GET", `/api/ratings/api/fetch/${part(sku)}`),
  rate: (sku, score) => call("PUT", `/api/ratings/api/rate/${part(sku)}/${score}`),
  uniqueid: () => call("GET", "/api/user/uniqueid"),
  login: (name, password) => call("POST", "/api/user/login", { name, password }),
  register: (name, email, password) => call("POST", "/api/user/register", { name, email, password }),
  history: (name) => call("GET", `/api/user/history/${part(name)}`),
  cart: (id) => call("GET", `/api/cart/cart/${part(id)}`),
  add: (id, sku, qty) => call("GET", `/api/cart/add/${part(id)}/${part(sku)}/${qty}`),
  update: (id, sku, qty) => call("GET", `/api/cart/update/${part(id)}/${part(sku)}/${qty}`),
  rename: (from, to) => call("GET", `/api/cart/rename/${part(from)}/${part(to)}`),
  codes: () => call("GET", "/api/shipping/codes"),
  match: (code, text) => call("GET", `/api/shipping/match/${part(code)}/${part(text)}`),
  calc: (uuid) => call("GET", `/api/shipping/calc/${part(uuid)}`),
  confirm: (id, shipping) => call("POST", `/api/shipping/confirm/${part(id)}`, shipping),
  pay: (id, cart) => call("POST", `/api/payment/pay/${part(id)}`, cart),
};
