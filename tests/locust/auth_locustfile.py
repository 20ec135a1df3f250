"""The auth API load test as teams write it for Locust: the locustfile loadgen's shipped scenarios replace.

Used by tests that run real Locust beside loadgen on the built-in reference API (the CSV files compared column by
column, tests/it/locust_csv.rs) and by `loadgen import locust` (tests/it/import_locust.rs).

    locust -f tests/locust/auth_locustfile.py --headless -u 20 -r 10 -t 10s --host http://127.0.0.1:8000 --csv out
"""
import uuid

from locust import HttpUser, between, task


class AuthUser(HttpUser):
    wait_time = between(0.1, 0.5)
    host = "http://127.0.0.1:8000"

    def on_start(self):
        self.username = f"locust_{uuid.uuid4().hex[:12]}"
        self.client.post(
            "/api/auth/register",
            json={"username": self.username, "password": "LoadTest123!", "email": f"{self.username}@loadtest.local"},
            name="register",
        )
        with self.client.post(
            "/api/auth/login",
            json={"username": self.username, "password": "LoadTest123!"},
            name="login",
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                self.token = response.json()["access_token"]
                response.success()
            else:
                response.failure(f"login failed: {response.status_code}")

    @task(10)
    def verify_token(self):
        self.client.get("/api/auth/verify", headers={"Authorization": f"Bearer {self.token}"}, name="verify_token")

    @task(5)
    def refresh_token(self):
        with self.client.post(
            "/api/auth/refresh",
            headers={"Authorization": f"Bearer {self.token}"},
            name="refresh_token",
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                self.token = response.json()["access_token"]

    @task(2)
    def rate_limited_operation(self):
        self.client.post(
            "/api/protected/operation",
            json={"action": "test"},
            headers={"Authorization": f"Bearer {self.token}"},
            name="rate_limited_operation",
        )

    @task(1)
    def logout(self):
        self.client.post("/api/auth/logout", headers={"Authorization": f"Bearer {self.token}"}, name="logout")
        self.on_start()
