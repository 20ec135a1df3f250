"""Record tests/fixtures/import/demo_app.har: headless Chromium walking the demo API's browser app, as HAR 1.2.

Usage: python3 tests/python/record_har.py --loadgen target/debug/loadgen [--out FILE] [--chromium PATH]
       [--chromedriver PATH]

Not run in CI: the recording is kept as a fixture (tests/it/import_har.rs reads it). Re-record it after a change to
the app (src/demo/app.rs, src/demo/app/) with the command above, then run `cargo test --test it import_har`.

It starts `loadgen serve-demo` on a free loopback port, opens /app/ in Chromium (a fresh profile, only loopback
reachable), waits for each page to say `done`, reads the page's response bodies through the DevTools protocol
(`Network.getResponseBody`) before following its `Next` link (a navigation may drop them), and builds the HAR from
the performance log's Network events: requestWillBeSent (+ExtraInfo for the headers really sent, cookies and
sec-* included), responseReceived (+ExtraInfo), loadingFinished / loadingFailed. Every wait is bounded.
"""
import argparse
import base64
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import parse_qsl
from datetime import datetime, timezone
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(fn, what, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def browser(args, profile):
    o = webdriver.ChromeOptions()
    if args.chromium:
        o.binary_location = args.chromium
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--no-first-run", "--no-default-browser-check",
              "--disable-extensions", "--disable-component-update", "--disable-sync",
              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={profile}"]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(args.chromedriver), options=o)


def har_headers(h):
    out = []
    for k, v in (h or {}).items():
        for line in str(v).split("\n"):  # Chromium joins repeated headers with a newline
            out.append({"name": k, "value": line})
    return out


def iso(wall):
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Recorder:
    def __init__(self, driver):
        self.d = driver
        self.reqs = {}  # requestId -> dict
        self.order = []
        self.pages = []  # (id, loaderId, started, url)
        self.bodies = {}

    def drain(self):
        for row in self.d.get_log("performance"):
            msg = json.loads(row["message"])["message"]
            m, p = msg.get("method", ""), msg.get("params", {})
            if m == "Network.requestWillBeSent":
                rid = p["requestId"]
                if "redirectResponse" in p and rid in self.reqs:
                    old = self.reqs.pop(rid)
                    old["response"] = p["redirectResponse"]
                    old["end"] = p["timestamp"]
                    old["requestId"] = rid + "-redirect-" + str(len(self.order))
                    self.reqs[old["requestId"]] = old
                    self.order[self.order.index(rid)] = old["requestId"]
                if (p.get("type") == "Document" and p["request"]["url"].startswith("http")
                        and not any(pg[1] == p["loaderId"] for pg in self.pages)):
                    # a page: a document loaded from the web (not the browser's own new-tab page)
                    self.pages.append((f"page_{len(self.pages) + 1}", p["loaderId"], p["wallTime"],
                                       p["request"]["url"]))
                self.reqs[rid] = {"requestId": rid, "req": p["request"], "wall": p["wallTime"],
                                  "start": p["timestamp"], "loader": p.get("loaderId"), "type": p.get("type")}
                self.order.append(rid)
            elif m == "Network.requestWillBeSentExtraInfo":
                self.reqs.setdefault(p["requestId"], {"requestId": p["requestId"]})["sent_headers"] = p["headers"]
            elif m == "Network.responseReceived":
                if p["requestId"] in self.reqs:
                    self.reqs[p["requestId"]]["response"] = p["response"]
            elif m == "Network.responseReceivedExtraInfo":
                self.reqs.setdefault(p["requestId"], {"requestId": p["requestId"]})["resp_headers"] = p["headers"]
            elif m in ("Network.loadingFinished", "Network.loadingFailed"):
                if p["requestId"] in self.reqs:
                    self.reqs[p["requestId"]]["end"] = p["timestamp"]
                    self.reqs[p["requestId"]]["failed"] = m == "Network.loadingFailed"

    def fetch_bodies(self):
        self.drain()
        for rid, r in self.reqs.items():
            if (rid in self.bodies or "response" not in r or "-redirect-" in rid or r.get("failed")
                    or not r["req"]["url"].startswith("http")):
                continue
            try:
                b = self.d.execute_cdp_cmd("Network.getResponseBody", {"requestId": rid})
                self.bodies[rid] = b
            except Exception as e:  # noqa: BLE001 - a body Chromium no longer holds is left out, said on stderr
                print(f"no body for {r['req']['url']}: {str(e).splitlines()[0]}", file=sys.stderr)

    def har(self, titles):
        entries = []
        for rid in self.order:
            r = self.reqs[rid]
            if "req" not in r or "response" not in r:
                continue
            req, resp = r["req"], r["response"]
            url = req["url"]
            if not url.startswith("http"):
                continue
            sent = r.get("sent_headers") or req.get("headers", {})
            qs = []
            if "?" in url:
                qs = [{"name": k, "value": v} for k, v in parse_qsl(url.split("?", 1)[1], keep_blank_values=True)]
            request = {"method": req["method"], "url": url, "httpVersion": resp.get("protocol", "http/1.1"),
                       "cookies": [], "headers": har_headers(sent), "queryString": qs, "headersSize": -1,
                       "bodySize": len(req.get("postData", "").encode())}
            if req.get("postData") is not None:
                ctype = next((v for k, v in sent.items() if k.lower() == "content-type"), "")
                request["postData"] = {"mimeType": ctype, "text": req["postData"]}
            body = self.bodies.get(rid)
            content = {"size": 0, "mimeType": resp.get("mimeType", "")}
            if body:
                content["text"] = body["body"]
                content["size"] = len(base64.b64decode(body["body"]) if body["base64Encoded"]
                                      else body["body"].encode())
                if body["base64Encoded"]:
                    content["encoding"] = "base64"
            rheaders = r.get("resp_headers") or resp.get("headers", {})
            location = next((v for k, v in rheaders.items() if k.lower() == "location"), "")
            total = max(0.0, (r.get("end", r["start"]) - r["start"]) * 1000.0)
            page = next((pg[0] for pg in self.pages if pg[1] == r.get("loader")), None)
            entry = {"startedDateTime": iso(r["wall"]), "time": round(total, 3),
                     "request": request,
                     "response": {"status": resp["status"], "statusText": resp.get("statusText", ""),
                                  "httpVersion": resp.get("protocol", "http/1.1"), "cookies": [],
                                  "headers": har_headers(rheaders), "content": content,
                                  "redirectURL": location, "headersSize": -1, "bodySize": content["size"]},
                     "cache": {}, "timings": {"send": 0, "wait": round(total, 3), "receive": 0},
                     "_resourceType": (r.get("type") or "").lower()}
            if page:
                entry["pageref"] = page
            entries.append(entry)
        pages = [{"startedDateTime": iso(wall), "id": pid, "title": titles.get(pid, url),
                  "pageTimings": {}} for pid, _, wall, url in self.pages]
        return {"log": {"version": "1.2", "creator": {"name": "loadgen tests/python/record_har.py",
                                                      "version": "1"},
                        "browser": {"name": "Chromium", "version": self.d.capabilities.get("browserVersion", "")},
                        "pages": pages, "entries": entries}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/import/demo_app.har")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser")
                    or shutil.which("google-chrome"))
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    args = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([args.loadgen, "serve-demo", "--addr", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp(prefix="record_har_")
    driver = None
    try:
        def up():
            try:
                return urllib.request.urlopen(base + "/health", timeout=1).status == 200
            except OSError:
                return False
        wait_for(up, "the demo API", 20)
        driver = browser(args, profile)
        rec = Recorder(driver)
        titles = {}
        driver.get(base + "/app/")
        for n in range(1, 4):
            status = wait_for(lambda: driver.find_element(By.ID, "status").text != "working"
                              and driver.find_element(By.ID, "status").text, f"page {n} to finish", 30)
            if status != "done":
                raise SystemExit(f"page {n} ({driver.current_url}) says: {status}")
            rec.fetch_bodies()
            titles[f"page_{n}"] = driver.title
            if n < 3:
                time.sleep(1.2)  # a person reading the page before clicking on: the gap the importer turns into think time
                driver.find_element(By.ID, "next").click()
                wait_for(lambda: (rec.drain() or True) and len(rec.pages) > n, f"page {n + 1} to load", 20)
        rec.fetch_bodies()
        har = rec.har(titles)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(har, indent=2) + "\n")
        print(f"wrote {args.out}: {len(har['log']['pages'])} pages, {len(har['log']['entries'])} entries")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
