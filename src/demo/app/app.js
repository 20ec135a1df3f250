// The demo app's script: each page walks its part of the auth flow with fetch, pausing between steps as a
// person would; then the page says `done` and the person (the recorder) follows its `Next` link. The token
// travels between pages in sessionStorage.
"use strict";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(method, path, body, token) {
  const headers = { "X-Client": "loadgen-demo-app" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = "Bearer " + token;
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await resp.json();
  if (!resp.ok) throw new Error(method + " " + path + ": " + resp.status + " " + JSON.stringify(data));
  return data;
}

async function signup() {
  const username = "har_" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  const password = "secret-" + Math.random().toString(36).slice(2, 10);
  await call("POST", "/api/auth/register", { username, password, email: username + "@example.com" });
  await sleep(600);
  const login = await call("POST", "/api/auth/login", { username, password });
  await call("GET", "/api/auth/verify", undefined, login.access_token);
  await sleep(300);
  const refreshed = await call("POST", "/api/auth/refresh", undefined, login.access_token);
  sessionStorage.setItem("token", refreshed.access_token);
}

async function account() {
  const token = sessionStorage.getItem("token");
  await call("GET", "/api/auth/verify", undefined, token);
  await call("GET", "/api/items?page=1&per_page=5", undefined, token);
  await sleep(500);
  await call("POST", "/api/protected/operation", { action: "test" }, token);
}

async function bye() {
  const token = sessionStorage.getItem("token");
  await call("POST", "/api/auth/logout", undefined, token);
  sessionStorage.removeItem("token");
}

const pages = { signup, account, bye };
pages[document.body.dataset.page]()
  .then(() => { document.getElementById("status").textContent = "done"; })
  .catch((e) => { document.getElementById("status").textContent = "error: " + e.message; });
