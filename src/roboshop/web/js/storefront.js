// Stan's Robot Shop in the browser: History-API routing over plain DOM views, same origin only.
// The session cookie is HttpOnly, so the shopper's id (anonymous, then the user name) is kept in sessionStorage.
import { api } from "./api.js";
import { productArt } from "./art.js";

const SEARCH_MIN = 2;
const MATCH_MIN = 3;
const PAYMENT_MISSING = new Set([404, 503]);
const store = window.sessionStorage;
const state = { id: store.getItem("roboshop.id"), user: store.getItem("roboshop.user"), cart: null };
let identity = null;

// --- small DOM helpers -------------------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

const euro = (amount) => "\u20ac" + Number(amount || 0).toFixed(2);
const link = (href, text, attrs = {}) => h("a", { href, ...attrs }, text);
const message = (text, kind = "info") => h("p", { class: kind, role: kind === "error" ? "alert" : "status" }, text);

function say(slot, text, kind = "info") {
  slot.replaceChildren(text ? message(text, kind) : "");
}

// --- identity and cart -------------------------------------------------------------------------------------------

function remember(id, user) {
  state.id = id;
  state.user = user;
  id ? store.setItem("roboshop.id", id) : store.removeItem("roboshop.id");
  user ? store.setItem("roboshop.user", user) : store.removeItem("roboshop.user");
  document.getElementById("visitor").textContent = id || "\u2026";
  document.getElementById("account-link").textContent = user ? user : "Log in";
}

// One anonymous id per browser session: concurrent callers share the one request.
function shopperId() {
  if (state.id) return Promise.resolve(state.id);
  identity ??= api.uniqueid().then((answer) => {
    remember(answer.uuid, null);
    return answer.uuid;
  });
  return identity.finally(() => (identity = null));
}

function showCart(cart) {
  state.cart = cart;
  const items = cart ? cart.items.filter((item) => item.sku !== "SHIP") : [];
  document.getElementById("cart-total").textContent = items.length ? euro(cart.total) : "Empty";
}

async function loadCart() {
  const id = await shopperId();
  try {
    showCart(await api.cart(id));
  } catch (error) {
    if (error.status !== 404) throw error;
    showCart(null);
  }
  return state.cart;
}

// --- routing -----------------------------------------------------------------------------------------------------

const routes = [
  [/^\/$/, home],
  [/^\/category\/([^/]+)$/, category],
  [/^\/search\/([^/]*)$/, search],
  [/^\/search\/?$/, search],
  [/^\/product\/([^/]+)$/, product],
  [/^\/cart$/, cartPage],
  [/^\/login$/, loginPage],
  [/^\/shipping$/, shippingPage],
  [/^\/payment$/, paymentPage],
  [/^\/history$/, historyPage],
];

function navigate(path) {
  history.pushState(null, "", path);
  render(true);
}

let renders = 0;

async function render(moveFocus = false) {
  const ticket = ++renders; // a slow page must not replace the page the shopper went to next
  const view = document.getElementById("view");
  const path = location.pathname;
  let page = notFound;
  let args = [];
  for (const [pattern, handler] of routes) {
    const found = pattern.exec(path);
    if (found) {
      page = handler;
      args = found.slice(1).map((value) => (value === undefined ? "" : decodeURIComponent(value)));
      break;
    }
  }
  markCategory(path);
  if (page !== search) document.getElementById("search-text").value = "";
  view.setAttribute("aria-busy", "true");
  let content;
  try {
    content = await page(...args);
  } catch (error) {
    content = [h("h1", { text: "Something went wrong" }), message("ERROR " + error.message, "error")];
  }
  if (ticket !== renders) return;
  view.replaceChildren(...[content].flat());
  view.removeAttribute("aria-busy");
  const title = view.querySelector("h1");
  document.title = (title ? title.textContent + " \u2013 " : "") + "Stan's Robot Shop";
  if (moveFocus) (title || view).focus();
}

document.addEventListener("click", (event) => {
  const anchor = event.target.closest("a[href^='/']");
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(anchor.getAttribute("href"));
});
window.addEventListener("popstate", () => render(true));

document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = document.getElementById("search-text").value.trim();
  navigate("/search/" + encodeURIComponent(text));
});

// --- categories --------------------------------------------------------------------------------------------------

async function loadCategories() {
  const list = document.getElementById("categories");
  try {
    const names = await api.categories();
    list.replaceChildren(
      h("li", {}, link("/", "All products")),
      ...names.map((name) => h("li", {}, link("/category/" + encodeURIComponent(name), name))),
    );
  } catch (error) {
    list.replaceChildren(h("li", { class: "error" }, "Categories unavailable: " + error.message));
  }
  markCategory(location.pathname);
}

function markCategory(path) {
  for (const anchor of document.querySelectorAll("#categories a")) {
    anchor.getAttribute("href") === path ? anchor.setAttribute("aria-current", "page") : anchor.removeAttribute("aria-current");
  }
}

// --- catalogue views ---------------------------------------------------------------------------------------------

function productGrid(products) {
  return h(
    "ul",
    { class: "grid" },
    products.map((item) =>
      h(
        "li",
        { class: "card" },
        h(
          "a",
          { href: "/product/" + encodeURIComponent(item.sku) },
          productArt(item.sku, item.name, true),
          h("span", { class: "name", text: item.name }),
        ),
        h("span", { class: "price", text: euro(item.price) }),
        h("span", { class: item.instock > 0 ? "stock" : "stock out", text: item.instock > 0 ? "In stock" : "Out of stock" }),
      ),
    ),
  );
}

async function home() {
  return [h("h1", { tabindex: "-1", text: "Robots for every job" }), productGrid(await api.products())];
}

async function category(name) {
  return [h("h1", { tabindex: "-1", text: name }), productGrid(await api.category(name))];
}

async function search(text = "") {
  const heading = h("h1", { tabindex: "-1", text: "Search" });
  document.getElementById("search-text").value = text;
  if (text.trim().length < SEARCH_MIN) {
    return [heading, message(`Type at least ${SEARCH_MIN} characters to search.`, "error")];
  }
  heading.textContent = `Search results for \u201c${text}\u201d`;
  const found = await api.search(text);
  return [heading, found.length ? productGrid(found) : message("No products match your search.")];
}

async function product(sku) {
  let item;
  try {
    item = await api.product(sku);
  } catch (error) {
    if (error.status !== 404) throw error;
    return [h("h1", { tabindex: "-1", text: "Product not found" }), message("ERROR " + error.message, "error")];
  }
  const ratingText = h("p", { class: "rating-text" });
  const stars = h("div", { class: "stars", role: "group", "aria-label": "Rate this product" });
  const ratingNote = h("div");
  async function showRating() {
    const rating = await api.rating(item.sku);
    ratingText.textContent = rating.rating_count
      ? `Rated ${Number(rating.avg_rating).toFixed(1)} out of 5 from ${rating.rating_count} vote${rating.rating_count === 1 ? "" : "s"}`
      : "No votes yet. Vote now.";
    const filled = Math.round(rating.avg_rating);
    stars.replaceChildren(
      ...[1, 2, 3, 4, 5].map((score) =>
        h("button", {
          type: "button",
          class: score <= filled ? "star on" : "star",
          "aria-label": `Rate ${score} out of 5`,
          text: "\u2605",
          onclick: async () => {
            try {
              await api.rate(item.sku, score);
              await showRating();
              say(ratingNote, "Thank you for your feedback");
            } catch (error) {
              say(ratingNote, "ERROR " + error.message, "error");
            }
          },
        }),
      ),
    );
  }
  await showRating();

  const addNote = h("div");
  const quantity = h("input", { id: "quantity", name: "quantity", type: "number", min: "1", max: "10", value: "1", required: true });
  const inStock = item.instock > 0;
  const form = h(
    "form",
    {
      class: "add",
      onsubmit: async (event) => {
        event.preventDefault();
        if (!quantity.checkValidity()) {
          say(addNote, "Choose a quantity from 1 to 10.", "error");
          return;
        }
        try {
          showCart(await api.add(await shopperId(), item.sku, Number(quantity.value)));
          say(addNote, "Added to cart");
        } catch (error) {
          say(addNote, "ERROR " + error.message, "error");
        }
      },
    },
    h("label", { for: "quantity", text: "Quantity" }),
    quantity,
    h("button", { type: "submit", disabled: !inStock, text: "Add to cart" }),
  );
  return h(
    "article",
    { class: "product" },
    productArt(item.sku, item.name),
    h(
      "div",
      { class: "details" },
      h("h1", { tabindex: "-1", text: item.name }),
      h("p", { text: item.description }),
      h("p", { class: "price big", text: euro(item.price) }),
      h("p", { class: inStock ? "stock" : "stock out", text: inStock ? `In stock: ${item.instock}` : "Out of stock" }),
      h("section", { class: "rating", "aria-label": "Rating" }, ratingText, stars, ratingNote),
      form,
      addNote,
    ),
  );
}

function notFound() {
  return [h("h1", { tabindex: "-1", text: "Page not found" }), h("p", {}, link("/", "Back to the shop"))];
}

// --- cart ----------------------------------------------------------------------------------------------------------

function totals(cart) {
  return h(
    "dl",
    { class: "totals" },
    h("dt", { text: "Total" }),
    h("dd", { id: "total", text: euro(cart.total) }),
    h("dt", { text: "Inc Tax" }),
    h("dd", { id: "tax", text: euro(cart.tax) }),
  );
}

function cartTable(cart, editable, onQuantity) {
  return h(
    "table",
    { class: "lines" },
    h("caption", { class: "visually-hidden", text: "Items in your cart" }),
    h("thead", {}, h("tr", {}, ["Item", "Quantity", "Price", "Subtotal"].map((name) => h("th", { scope: "col", text: name })))),
    h(
      "tbody",
      {},
      cart.items.map((line) => {
        const id = "qty-" + line.sku;
        const qty =
          editable && line.sku !== "SHIP"
            ? [
                h("label", { for: id, class: "visually-hidden", text: `Quantity of ${line.name}` }),
                h("input", {
                  id,
                  type: "number",
                  min: "0",
                  max: "10",
                  value: String(line.qty),
                  onchange: (event) => onQuantity(line, event.target),
                }),
              ]
            : String(line.qty);
        return h(
          "tr",
          {},
          h("th", { scope: "row", text: line.name }),
          h("td", {}, qty),
          h("td", { text: euro(line.price) }),
          h("td", { text: euro(line.subtotal) }),
        );
      }),
    ),
  );
}

async function cartPage() {
  const heading = h("h1", { tabindex: "-1", text: "Your cart" });
  let cart = await loadCart();
  const id = state.id;
  // Shipping is chosen again at checkout, as in the original shop.
  if (cart && cart.items.length && cart.items[cart.items.length - 1].sku === "SHIP") {
    cart = await api.update(id, "SHIP", 0);
    showCart(cart);
  }
  if (!cart || !cart.items.length) {
    return [heading, message("Your cart is empty."), h("p", {}, link("/", "Browse the robots"))];
  }
  const note = h("div");
  const body = h("div");
  function draw(current) {
    body.replaceChildren(
      cartTable(current, true, async (line, input) => {
        const qty = Number(input.value);
        if (!Number.isInteger(qty) || qty < 0 || qty > 10) {
          say(note, "Choose a quantity from 0 to 10.", "error");
          return;
        }
        try {
          const updated = await api.update(id, line.sku, qty);
          showCart(updated);
          say(note, qty ? `${line.name}: quantity ${qty}` : `${line.name} removed`);
          if (!updated.items.length) {
            body.replaceChildren(message("Your cart is empty."));
            return;
          }
          draw(updated);
          const again = document.getElementById("qty-" + line.sku);
          if (again) again.focus();
        } catch (error) {
          say(note, "ERROR " + error.message, "error");
        }
      }),
      totals(current),
      h("p", {}, link("/shipping", "Checkout", { class: "button" })),
    );
  }
  draw(cart);
  return [heading, body, note];
}

// --- account -------------------------------------------------------------------------------------------------------

async function carryCartTo(name) {
  const previous = state.id;
  remember(name, name);
  if (previous && previous !== name) {
    try {
      await api.rename(previous, name);
    } catch (error) {
      if (error.status !== 404) throw error; // no anonymous cart: nothing to carry over
    }
  }
  await loadCart();
}

function field(id, label, attrs) {
  return [h("label", { for: id, text: label }), h("input", { id, name: id, required: true, ...attrs })];
}

async function loginPage() {
  const heading = h("h1", { tabindex: "-1", text: state.user ? `Logged in as ${state.user}` : "Log in or register" });
  if (state.user) {
    return [
      heading,
      h("p", {}, link("/history", "Your orders"), " \u00b7 ", link("/cart", "Your cart")),
      h("button", {
        type: "button",
        text: "Log out",
        onclick: async () => {
          remember(null, null);
          showCart(null);
          await shopperId();
          navigate("/");
        },
      }),
    ];
  }
  const loginNote = h("div");
  const registerNote = h("div");
  const loginForm = h(
    "form",
    {
      "aria-labelledby": "login-heading",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        try {
          const user = await api.login(data.get("login-name"), data.get("login-password"));
          await carryCartTo(user.name);
          navigate("/history");
        } catch (error) {
          event.target.elements["login-password"].value = "";
          say(loginNote, "ERROR " + error.message, "error");
        }
      },
    },
    h("h2", { id: "login-heading", text: "Log in" }),
    field("login-name", "Name", { autocomplete: "username" }),
    field("login-password", "Password", { type: "password", autocomplete: "current-password" }),
    h("button", { type: "submit", text: "Log in" }),
    loginNote,
  );
  const registerForm = h(
    "form",
    {
      "aria-labelledby": "register-heading",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        if (data.get("register-password") !== data.get("register-confirm")) {
          say(registerNote, "ERROR the passwords do not match", "error");
          return;
        }
        try {
          const name = data.get("register-name");
          await api.register(name, data.get("register-email"), data.get("register-password"));
          await carryCartTo(name);
          navigate("/history");
        } catch (error) {
          say(registerNote, "ERROR " + error.message, "error");
        }
      },
    },
    h("h2", { id: "register-heading", text: "Register" }),
    field("register-name", "Name", { autocomplete: "username" }),
    field("register-email", "Email", { type: "email", autocomplete: "email" }),
    field("register-password", "Password", { type: "password", autocomplete: "new-password" }),
    field("register-confirm", "Confirm password", { type: "password", autocomplete: "new-password" }),
    h("button", { type: "submit", text: "Register" }),
    registerNote,
  );
  return [heading, h("div", { class: "columns" }, loginForm, registerForm)];
}

async function historyPage() {
  const heading = h("h1", { tabindex: "-1", text: "Your orders" });
  if (!state.user) {
    return [heading, h("p", {}, "Orders are kept for registered shoppers. ", link("/login", "Log in or register"), ".")];
  }
  let orders = [];
  try {
    orders = (await api.history(state.user)).history || [];
  } catch (error) {
    if (error.status !== 404) throw error; // "history not found": no order yet
  }
  if (!orders.length) {
    return [heading, message(`Welcome, ${state.user}. You have no orders yet.`)];
  }
  return [
    heading,
    h(
      "table",
      { class: "lines" },
      h("thead", {}, h("tr", {}, ["Order", "Items", "Total", "Status"].map((name) => h("th", { scope: "col", text: name })))),
      h(
        "tbody",
        {},
        orders.map((order) =>
          h(
            "tr",
            {},
            h("th", { scope: "row", class: "order-id", text: order.orderid }),
            h("td", { text: order.cart.items.filter((line) => line.sku !== "SHIP").map((line) => `${line.qty} \u00d7 ${line.name}`).join(", ") }),
            h("td", { text: euro(order.cart.total) }),
            h("td", { text: order.status || "placed" }),
          ),
        ),
      ),
    ),
  ];
}

// --- checkout ------------------------------------------------------------------------------------------------------

async function shippingPage() {
  const heading = h("h1", { tabindex: "-1", text: "Shipping" });
  const cart = await loadCart();
  if (!cart || !cart.items.some((line) => line.sku !== "SHIP")) {
    return [heading, message("Your cart is empty."), h("p", {}, link("/", "Browse the robots"))];
  }
  const codes = await api.codes();
  const note = h("div");
  const result = h("div");
  const chosen = { city: null, quote: null };
  const country = h(
    "select",
    { id: "country", name: "country", required: true },
    h("option", { value: "", text: "Choose a country" }),
    codes.map((code) => h("option", { value: code.code, text: code.name })),
  );
  const city = h("input", {
    id: "city",
    name: "city",
    type: "text",
    role: "combobox",
    autocomplete: "off",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": "city-options",
    "aria-describedby": "city-hint",
    required: true,
  });
  const options = h("ul", { id: "city-options", role: "listbox", class: "options", hidden: true, "aria-label": "Cities" });
  const calc = h("button", { type: "button", disabled: true, text: "Calculate" });
  const confirm = h("button", { type: "button", disabled: true, text: "Confirm shipping" });
  let active = -1;
  let timer = 0;
  let asked = "";

  function close() {
    options.hidden = true;
    city.setAttribute("aria-expanded", "false");
    city.removeAttribute("aria-activedescendant");
    active = -1;
  }
  function choose(match) {
    chosen.city = match;
    chosen.quote = null;
    city.value = match.name;
    calc.disabled = false;
    confirm.disabled = true;
    result.replaceChildren();
    close();
  }
  function highlight(index) {
    const items = [...options.children];
    if (!items.length) return;
    active = (index + items.length) % items.length;
    items.forEach((item, i) => item.setAttribute("aria-selected", String(i === active)));
    city.setAttribute("aria-activedescendant", items[active].id);
  }
  async function suggest() {
    const text = city.value.trim();
    if (!country.value || text.length < MATCH_MIN) {
      close();
      return;
    }
    asked = country.value + "/" + text;
    const key = asked;
    try {
      const matches = await api.match(country.value, text);
      if (key !== asked) return; // a newer keystroke is on its way
      options.replaceChildren(
        ...matches.map((match, i) =>
          h("li", { id: `city-option-${i}`, role: "option", "aria-selected": "false", onmousedown: (e) => e.preventDefault(), onclick: () => choose(match) }, match.name),
        ),
      );
      options.hidden = !matches.length;
      city.setAttribute("aria-expanded", String(matches.length > 0));
      active = -1;
      say(note, matches.length ? "" : "No city starts with that name.", "info");
      options.matches = matches;
    } catch (error) {
      say(note, "ERROR " + error.message, "error");
    }
  }
  city.addEventListener("input", () => {
    chosen.city = null;
    calc.disabled = true;
    confirm.disabled = true;
    clearTimeout(timer);
    timer = setTimeout(suggest, 150);
  });
  city.addEventListener("keydown", (event) => {
    if (options.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      highlight(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      choose(options.matches[active]);
    } else if (event.key === "Escape") {
      close();
    }
  });
  city.addEventListener("blur", close);
  country.addEventListener("change", () => {
    city.value = "";
    chosen.city = null;
    calc.disabled = true;
    confirm.disabled = true;
    close();
  });
  calc.addEventListener("click", async () => {
    try {
      chosen.quote = await api.calc(chosen.city.uuid);
      const countryName = country.options[country.selectedIndex].text;
      chosen.quote.location = `${countryName} ${chosen.city.name}`;
      result.replaceChildren(
        h(
          "dl",
          { class: "totals", id: "quote" },
          h("dt", { text: "Distance" }),
          h("dd", { text: `${chosen.quote.distance} km` }),
          h("dt", { text: "Cost" }),
          h("dd", { text: euro(chosen.quote.cost) }),
        ),
      );
      confirm.disabled = false;
      say(note, "");
    } catch (error) {
      say(note, "ERROR " + error.message, "error");
    }
  });
  confirm.addEventListener("click", async () => {
    try {
      const { distance, cost, location } = chosen.quote;
      showCart(await api.confirm(state.id, { distance, cost, location }));
      navigate("/payment");
    } catch (error) {
      say(note, "ERROR " + error.message, "error");
    }
  });
  return [
    heading,
    h(
      "form",
      { class: "shipping", onsubmit: (event) => event.preventDefault() },
      h("label", { for: "country", text: "Country" }),
      country,
      h("label", { for: "city", text: "City" }),
      h("p", { id: "city-hint", class: "hint", text: `Type at least ${MATCH_MIN} letters, then pick your city.` }),
      h("div", { class: "combo" }, city, options),
      h("div", { class: "actions" }, calc, confirm),
    ),
    result,
    note,
  ];
}

async function paymentPage() {
  const heading = h("h1", { tabindex: "-1", text: "Payment" });
  const cart = await loadCart();
  if (!cart || !cart.items.length) {
    return [heading, message("Your cart is empty."), h("p", {}, link("/", "Browse the robots"))];
  }
  if (!cart.items.some((line) => line.sku === "SHIP")) {
    return [heading, message("Choose shipping before you pay."), h("p", {}, link("/shipping", "Choose shipping"))];
  }
  const note = h("div");
  const pay = h("button", {
    type: "button",
    text: "Pay now",
    onclick: async () => {
      pay.disabled = true;
      try {
        const placed = await api.pay(state.id, state.cart);
        showCart(null);
        const view = document.getElementById("view");
        view.replaceChildren(
          h("h1", { tabindex: "-1", text: "Thank you for your order" }),
          message(`Order placed ${placed.orderid}`),
          h("p", {}, state.user ? link("/history", "See your orders") : "Register next time to keep an order history.", " \u00b7 ", link("/", "Keep shopping")),
        );
        view.querySelector("h1").focus();
      } catch (error) {
        pay.disabled = false;
        say(
          note,
          PAYMENT_MISSING.has(error.status)
            ? "Payment is not available yet. Your cart is kept; please try again later."
            : "ERROR placing order: " + error.message,
          "error",
        );
      }
    },
  });
  return [heading, cartTable(cart, false), totals(cart), h("p", {}, pay), note];
}

// --- start -------------------------------------------------------------------------------------------------------

remember(state.id, state.user);
loadCategories();
shopperId()
  .then(loadCart)
  .catch((error) => {
    // A stored id whose session cookie is gone: start a fresh anonymous session.
    if (error.status === 401 || error.status === 403) {
      remember(null, null);
      return shopperId().then(loadCart);
    }
  })
  .catch(() => {});
render();
