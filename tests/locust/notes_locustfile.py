"""A locustfile with parts `loadgen import locust` cannot translate (a loop, a condition, an event listener, a
TaskSet, the environment, a `timeout=`): each is a note at its line in the imported scenario, which still runs.

Imported by `loadgen import locust` in tests/it/import_locust.rs (which checks the notes' line numbers: keep the
lines where they are, or update the test), and run by real Locust there too.
"""
import random
import time

from locust import HttpUser, TaskSet, constant_throughput, events, task

API = "/api/items"


@events.test_start.add_listener
def announce(environment, **kwargs):
    print("starting")


class Health(TaskSet):
    @task
    def health(self):
        self.client.get("/health")


class ApiUser(HttpUser):
    wait_time = constant_throughput(5)
    host = "http://127.0.0.1:8000"
    password = "NotesTest123!"

    def on_start(self):
        self.login()

    def login(self):
        user = f"notes_{random.randint(0, 1000000)}_{time.time_ns()}"
        body = {"username": user, "password": self.password, "email": f"{user}@notes.local"}
        self.client.post("/api/auth/register", json=body, name="register")
        r = self.client.post("/api/auth/login", json={"username": user, "password": self.password}, name="login")
        self.token = r.json()["access_token"]

    @task(4)
    def pages(self):
        for page in range(1, 3):
            self.client.get(f"{API}?page={page}", headers={"Authorization": f"Bearer {self.token}"}, name="page")
        self.client.request("GET", API, headers={"Authorization": f"Bearer {self.token}"}, name="items", timeout=5)

    @task
    def health(self):
        if random.random() < 0.5:
            self.client.get("/health", name="health_maybe")
        self.client.get("/health", name="health")
        time.sleep(0.1)
        print(self.environment.runner.user_count)

    @task
    def verify(self):
        with self.client.get(
            "/api/auth/verify", headers={"Authorization": f"Bearer {self.token}"}, name="verify", catch_response=True
        ) as response:
            if response.elapsed.total_seconds() > 2:
                response.failure("too slow")

    @task
    def again(self):
        self.client.get("/health", name="health")
