"""A shop load test with three kinds of user, as teams write it for Locust: three shoppers (HttpUser) for each
visitor (FastHttpUser) and each buyer (HttpUser running a SequentialTaskSet).

Imported by `loadgen import locust` in tests/it/import_locust.rs, and run by real Locust there too (to prove it is a
real locustfile):

    locust -f tests/locust/shop_locustfile.py --headless -u 8 -r 8 -t 3s
"""
import uuid

from locust import FastHttpUser, HttpUser, SequentialTaskSet, between, constant_pacing, tag, task

PASSWORD = "ShopTest123!"


class Shopper(HttpUser):
    """Registers, logs in, browses the catalog and fills a cart."""

    weight = 3
    wait_time = constant_pacing(0.5)
    host = "http://127.0.0.1:8000"

    def on_start(self):
        self.username = f"shop_{uuid.uuid4()}"
        self.client.post(
            "/api/auth/register",
            json={"username": self.username, "password": PASSWORD, "email": f"{self.username}@shop.local"},
            name="shop_register",
        )
        response = self.client.post(
            "/api/auth/login", json={"username": self.username, "password": PASSWORD}, name="shop_login"
        )
        self.token = response.json().get("access_token")
        self.client.headers.update({"Authorization": f"Bearer {self.token}"})
        first = self.client.get("/api/items?page=1&per_page=3", name="first_items")
        self.item_id = first.json()["items"][0]["id"]

    @tag("browse")
    @task(3)
    def browse(self):
        with self.client.get(
            "/api/items", params={"page": 2, "per_page": 5}, name="list_items", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure("could not list the items")
            else:
                self.item_id = response.json()["items"][0]["id"]
        self.client.get(f"/api/items/{self.item_id}", name="item")

    @tag("cart")
    @task
    def add_to_cart(self):
        self.client.put  # a reference, not a call: not translated
        self.client.post("/api/cart", json={"item_id": self.item_id, "quantity": 2}, name="add_to_cart")

    @task
    def form_without_csrf(self):
        with self.client.post(
            "/shop/login",
            data={"username": "nobody", "password": "wrong"},
            name="form_without_csrf",
            catch_response=True,
        ) as response:
            if response.status_code == 403:
                response.success()
            else:
                response.failure(f"a form without its CSRF token got {response.status_code}")

    def on_stop(self):
        self.client.delete("/api/cart", name="clear_cart")


class Visitor(FastHttpUser):
    """Checks the service is up and reads the version counters."""

    weight = 1
    wait_time = between(0.2, 0.4)
    host = "http://127.0.0.1:8000"

    @task(2)
    def health(self):
        self.client.get("/health", name="health")

    @task
    def versions(self):
        self.client.request("GET", "/api/debug/versions", headers={"Accept": "application/json"}, name="versions")


class Checkout(SequentialTaskSet):
    """A buyer's visit, in order: the cart, an item added, the cart again, the cart emptied."""

    @task
    def view_cart(self):
        self.client.get("/api/cart", name="view_cart")

    @task
    def add(self):
        listing = self.client.get("/api/items?per_page=1", name="buyer_items")
        self.item = listing.json()["items"][0]["id"]
        self.client.post("/api/cart", json={"item_id": self.item, "quantity": 1}, name="buyer_add")

    @task
    def empty(self):
        self.client.delete("/api/cart", name="empty_cart")
        self.interrupt(reschedule=False)


class Buyer(HttpUser):
    weight = 1
    wait_time = between(0.2, 0.4)
    host = "http://127.0.0.1:8000"
    tasks = [Checkout]

    def on_start(self):
        self.username = f"buyer_{uuid.uuid4()}"
        self.client.post(
            "/api/auth/register",
            json={"username": self.username, "password": PASSWORD, "email": f"{self.username}@shop.local"},
            name="buyer_register",
        )
        login = self.client.post(
            "/api/auth/login", json={"username": self.username, "password": PASSWORD}, name="buyer_login"
        )
        self.token = login.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {self.token}"
