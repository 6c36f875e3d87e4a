// Lists the catalogue's products. Plain JS, same origin only: no external request of any kind.
"use strict";

function productCard(product) {
  const item = document.createElement("li");
  item.className = "product";
  const name = document.createElement("h3");
  name.textContent = product.name;
  const description = document.createElement("p");
  description.textContent = product.description;
  const price = document.createElement("p");
  price.className = "price";
  price.textContent = "\u20ac" + Number(product.price).toFixed(2);
  const stock = document.createElement("p");
  stock.className = "stock";
  stock.textContent = product.instock > 0 ? product.instock + " in stock" : "Out of stock";
  item.append(name, description, price, stock);
  return item;
}

async function listProducts() {
  const status = document.getElementById("status");
  const list = document.getElementById("products");
  try {
    const response = await fetch("/api/catalogue/products", { headers: { Accept: "application/json" } });
    if (!response.ok) {
      throw new Error("the catalogue answered " + response.status);
    }
    const products = await response.json();
    list.replaceChildren(...products.map(productCard));
    status.textContent = products.length ? "" : "No products yet.";
  } catch (error) {
    status.className = "error";
    status.textContent = "Products are unavailable right now (" + error.message + ").";
  }
}

listProducts();
