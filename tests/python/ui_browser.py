"""The live page of a real run, in a real browser (issue 19 item 5): headless Chromium driven by Selenium.

Usage: python3 ui_browser.py --loadgen PATH [--screenshot FILE] [--chromium PATH] [--chromedriver PATH]

Case `run`: `loadgen run scenarios/stress.toml --demo ... --ui 127.0.0.1:0` with JSON and HTML outputs. The page
must show the requests growing, follow a change of users made with its steering inputs, stop the run with its
stop button and then show the verdict, the links and a final table equal to the JSON results (which record the
manual stage); nothing on the console, nothing loaded from anywhere but the page's origin.
Case `start`: `loadgen ui FILE --demo --ui 127.0.0.1:0`: the start form starts a short run that ends by itself.

Every wait polls what the binary prints or the page shows, with a bound; no fixed sleep. Only loopback. Prints
one `ok:` line per check; on failure, the reason, what loadgen printed and the page's state, and exits 1.
"""
import argparse
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[2]
ADDR_LINE = re.compile(r"live UI on (http://127\.0\.0\.1:\d+/\S*)")


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)
    print(f"ok: {what}", flush=True)


class Loadgen:
    """The binary, its stderr read line by line on a thread (kept for the failure report)."""

    def __init__(self, argv):
        self.argv = argv
        self.lines = []
        self.q = queue.Queue()
        self.p = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, errors="replace", env=clean_env())
        self.out = []
        threading.Thread(target=self._read, args=(self.p.stderr, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.p.stdout, False), daemon=True).start()

    def _read(self, f, is_err):
        for line in f:
            (self.lines if is_err else self.out).append(line.rstrip("\n"))
            if is_err:
                self.q.put(line)

    def wait_line(self, pattern, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.q.get(timeout=min(0.5, max(0.01, end - time.monotonic())))
            except queue.Empty:
                if self.p.poll() is not None and self.q.empty():
                    raise Failed(f"loadgen exited ({self.p.returncode}) before printing {pattern.pattern!r}")
                continue
            m = pattern.search(line)
            if m:
                return m
        raise Failed(f"no line matching {pattern.pattern!r} on loadgen's stderr within {timeout} s")

    def stop(self, timeout=20):
        """Ctrl-C, as a user ends the lingering UI; killed if it does not go within `timeout`."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)
        return self.p.returncode

    def dump(self):
        return (f"command: {' '.join(map(str, self.argv))}\n--- loadgen stdout ---\n" + "\n".join(self.out[-40:])
                + "\n--- loadgen stderr ---\n" + "\n".join(self.lines[-60:]))


def clean_env():
    env = dict(os.environ)
    for v in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy",
              "ALL_PROXY"]:
        env.pop(v, None)
    return env


def browser(args, profile):
    o = webdriver.ChromeOptions()
    if args.chromium:
        o.binary_location = args.chromium
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--no-first-run", "--no-default-browser-check",
              "--disable-extensions", "--disable-component-update", "--disable-sync",
              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--window-size=1440,1900", f"--user-data-dir={profile}"]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(args.chromedriver), options=o)


def poll(fn, what, timeout):
    """fn() until it returns something true, at most `timeout` seconds; its last exception says why not."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the page may be between two renders
            last = e
        if time.monotonic() > end:
            raise Failed(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last})" if last else ""))
        time.sleep(0.2)


def text(d, id_):
    return d.find_element(By.ID, id_).get_attribute("textContent").strip()


def value(el, css):
    """The raw number (data-value) of the element `css` finds in `el`; None when empty."""
    v = el.find_element(By.CSS_SELECTOR, css).get_attribute("data-value")
    return None if v in (None, "") else float(v)


def agg_requests(d):
    v = value(d.find_element(By.ID, "aggregated"), ".c-requests")
    return int(v) if v is not None else None


def fmt1(v):
    """`v` as the page shows it (toLocaleString, ICU): one decimal, thousands separated, the shortest decimal
    form of the double rounded half up. Python's own format rounds the double's exact binary value half to even:
    1.15 would be 1.1 there, 1.2 on the page."""
    if v is None:
        return "—"
    return f"{Decimal(repr(float(v))).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,.1f}"


class Watch:
    """What the browser logged: console messages and the URLs it requested (the performance log)."""

    def __init__(self, d):
        self.d = d
        self.console = []
        self.urls = []
        self.requests = []

    def drain(self):
        self.console += self.d.get_log("browser")
        for e in self.d.get_log("performance"):
            m = json.loads(e["message"])["message"]
            if m["method"] == "Network.requestWillBeSent":
                self.urls.append(m["params"]["request"]["url"])
                self.requests.append(m["params"]["request"])

    def check_token(self, origin, token):
        """Every request the page made to `origin` carried the token: in the URL, or for a POST in the header."""
        self.drain()
        mine = [r for r in self.requests if r["url"].startswith(origin)]
        posts = [r for r in mine if r["method"] == "POST"]
        gets = [r for r in mine if r["method"] == "GET"]
        check(posts and all(r["headers"].get("X-Loadgen-Token") == token for r in posts),
              f"the page's {len(posts)} POSTs carry X-Loadgen-Token")
        check(all(f"token={token}" in r["url"] for r in gets) and any("/events?" in r["url"] for r in gets),
              f"the page's {len(gets)} GETs (the page, /events) carry ?token=")

    def check_clean(self, origin, allowed_console=()):
        self.drain()
        bad = [c for c in self.console if c["level"] in ("SEVERE", "WARNING")
               and not any(a in c["message"] for a in allowed_console)]
        check(not bad, f"no console errors or warnings ({len(self.console)} messages in all)" + (
            "" if not bad else f": {bad}"))
        # Chromium's own pages (chrome://, before the page is opened) and data: are not network loads.
        foreign = sorted({u for u in self.urls if re.match(r"^(https?|wss?|ftp):", u) and not u.startswith(origin)})
        check(not foreign, f"nothing loaded but {origin} ({len(self.urls)} requests)" + (
            "" if not foreign else f": {foreign}"))


def compare_with_results(d, results):
    """The final table equals the JSON results: requests and failures exactly, ms to the displayed precision."""
    def same(tr, r, where):
        for field, want in [("requests", r["requests"]), ("failures", r["failures"])]:
            got = value(tr, ".c-" + field)
            check(got == want, f"{where}: {field} {got:.0f} = {want} in the JSON results")
        pct = r.get("percentiles_ms") or {}
        for field, want in [("median_ms", pct.get("p50")), ("p95_ms", pct.get("p95")), ("p99_ms", pct.get("p99")),
                            ("mean_ms", r.get("mean_ms")), ("min_ms", r.get("min_ms")), ("max_ms", r.get("max_ms"))]:
            got = tr.find_element(By.CSS_SELECTOR, ".c-" + field).get_attribute("textContent").strip()
            raw = value(tr, ".c-" + field)
            if got != fmt1(want) or raw != want:
                raise Failed(f"{where}: {field} shows {got!r} ({raw}), the JSON results say {want} ({fmt1(want)!r})")
        print(f"ok: {where}: median, p95, p99, mean, min and max as in the JSON results (shown to 0.1 ms, "
              "and exactly in data-value)", flush=True)

    rows = d.find_elements(By.CSS_SELECTOR, "#stats tbody tr")
    check(len(rows) == len(results["requests"]),
          f"the table has {len(rows)} rows, the JSON results {len(results['requests'])}")
    for r in results["requests"]:
        sel = [tr for tr in rows if tr.get_attribute("data-method") == r["method"]
               and tr.get_attribute("data-name") == r["name"]]
        check(len(sel) == 1, f"one row for {r['method']} {r['name']}")
        same(sel[0], r, f"{r['method']} {r['name']}")
    same(d.find_element(By.ID, "aggregated"), results["aggregated"], "Aggregated")


def refused(url):
    """`url` (without the token) answers 401."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    check(code == 401, f"{url} without the token is refused ({code})")


def exit_shown(d):
    m = re.fullmatch(r"exit code (\d+)", text(d, "exit"))
    check(m, f"#exit shows the exit code: {text(d, 'exit')!r}")
    return int(m.group(1))


def read_json(path, timeout):
    def ok():
        try:
            return json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return None
    return poll(ok, f"the JSON results in {path}", timeout)


def case_run(args, work):
    out = work / "results.json"
    html = work / "report.html"
    lg = Loadgen([args.loadgen, "run", "scenarios/stress.toml", "--demo", "-u", "20", "-r", "20", "-t", "90s",
                  "--ui", "127.0.0.1:0", "--json", str(out), "--html", str(html), "--ui-linger", "30s"])
    d = None
    try:
        url = lg.wait_line(ADDR_LINE, 60).group(1)
        origin = re.match(r"^(http://[^/]+)", url).group(1)
        check(True, f"loadgen printed the UI's address {url}")
        d = browser(args, work / "profile")
        watch = Watch(d)
        d.get(url)
        poll(lambda: text(d, "state") == "running", "#state running", 30)
        poll(lambda: d.find_elements(By.CSS_SELECTOR, "#stats tbody tr"), "rows in #stats", 30)
        first = poll(lambda: agg_requests(d), "requests in the Aggregated row", 30)
        second = poll(lambda: (agg_requests(d) or 0) > first and agg_requests(d), "the requests to grow", 30)
        check(second > first, f"the requests grow: {first} then {second}")
        check(text(d, "title") == "stress", "#title is the scenario's name")

        # Some seconds of the run before the change, for the charts (and the screenshot).
        poll(lambda: (value(d, "#elapsed") or 0) >= 10, "ten seconds of the run", 30)

        # Steering: down to 5 users, spawn 50/s; the running users follow.
        users = d.find_element(By.ID, "steer-users")
        users.clear()
        users.send_keys("5")
        spawn = d.find_element(By.ID, "steer-spawn")
        spawn.clear()
        spawn.send_keys("50")
        d.find_element(By.ID, "steer-apply").click()
        poll(lambda: text(d, "steer-ok") or text(d, "steer-error"), "an answer to the steering", 20)
        check(not text(d, "steer-error"), f"the change was accepted ({text(d, 'steer-ok')})")
        poll(lambda: text(d, "users") == "5", "#users to follow the change to 5", 30)
        check(True, "#users follows the change to 5")
        manual = poll(lambda: text(d, "manual"), "the change listed in #manual", 10)
        check(manual.startswith("manual 1"), f"#manual lists it: {manual!r}")
        at = d.execute_script("return S.points.length")
        poll(lambda: d.execute_script("return S.points.length") >= at + 5, "five more seconds of the run", 20)

        # A reload mid-run shows the run from its start (history), the change included, no second twice.
        before = d.execute_script("return S.points.length")
        d.refresh()
        poll(lambda: text(d, "conn") == "live" and d.find_elements(By.CSS_SELECTOR, "#stats tbody tr"),
             "the reloaded page to be live", 30)
        ts = d.execute_script("return S.points.map((p) => p.t)")
        check(len(ts) >= before and all(a < b for a, b in zip(ts, ts[1:])),
              f"after a reload the charts have the whole run: {len(ts)} seconds (had {before}), in order")
        check(text(d, "manual").startswith("manual 1"), "after a reload #manual still lists the change")
        if args.screenshot:
            # The whole page in one image: the window as tall as the page.
            height, bars = d.execute_script(
                "return [document.body.scrollHeight, window.outerHeight - window.innerHeight]")
            d.set_window_size(1440, height + bars)
            d.execute_script("for (const c of CHARTS) draw(c)")
            d.save_screenshot(str(args.screenshot))
            check(Path(args.screenshot).stat().st_size > 10_000, f"a screenshot in {args.screenshot}")

        # Stop from the page.
        d.find_element(By.ID, "stop").click()
        poll(lambda: text(d, "state") == "ended", "#state ended after stop", 60)
        verdict = d.find_element(By.ID, "verdict")
        check(verdict.get_attribute("data-result") == "INTERRUPTED", f"#verdict: {verdict.text!r}")
        check(re.search(r"stopped from the (live )?UI", verdict.text), "#verdict says it was stopped from the UI")
        check(not d.find_element(By.ID, "stop").is_enabled(), "#stop is disabled once ended")
        links = {a.text: a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "#links a")}
        check(any(h.split("?")[0].endswith("report.html") for h in links.values())
              and any(h.split("?")[0].endswith("results.json") for h in links.values()),
              f"#links: {links}")
        for h in links.values():
            with urllib.request.urlopen(h, timeout=10) as r:
                check(r.status == 200 and h.startswith(origin), f"{h} answers 200")

        shown_code = exit_shown(d)
        results = read_json(out, 30)
        check(results.get("interrupted"), "the JSON results say the run was interrupted")
        compare_with_results(d, results)
        check(results.get("stopped_by") == "ui", f"the JSON results say who stopped it: {results.get('stopped_by')!r}")
        manual = results.get("manual") or []
        check(len(manual) == 1 and manual[0].get("users") == 5 and manual[0].get("spawn_rate") == 50,
              f"the JSON results record the manual stage: {manual}")
        watch.check_clean(origin)
    except Exception:
        report_failure(d, lg, work / "failure.png")
        raise
    finally:
        if d:
            d.quit()
        code = lg.stop()
    check(code == shown_code, f"loadgen's exit status {code} is the one the page showed")


def case_start(args, work):
    token = secrets.token_hex(12)
    lg = Loadgen([args.loadgen, "ui", "scenarios/stress.toml", "--demo", "--ui", "127.0.0.1:0", "--ui-token", token,
                  "--ui-linger", "60s"])
    d = None
    try:
        url = lg.wait_line(ADDR_LINE, 60).group(1)
        origin = re.match(r"^(http://[^/]+)", url).group(1)
        check(url.endswith(f"/?token={token}"), f"the printed URL has the token: {url}")
        d = browser(args, work / "profile-start")
        watch = Watch(d)
        for path in ["/", "/events"]:
            refused(origin + path)
        d.get(url)
        poll(lambda: text(d, "state") == "waiting", "#state waiting", 30)
        check(d.find_element(By.ID, "start-form").is_displayed(), "the start form shows before the run")
        check(not d.find_element(By.ID, "stop").is_displayed(), "no stop button before the run")
        for id_, v in [("start-users", "4"), ("start-spawn", "4"), ("start-duration", "5s")]:
            e = d.find_element(By.ID, id_)
            e.clear()
            e.send_keys(v)
        d.find_element(By.ID, "start-button").click()
        poll(lambda: text(d, "state") == "running" or text(d, "start-error"), "the run to start", 30)
        check(not text(d, "start-error"), "the start form starts the run")
        check(not d.find_element(By.ID, "start-form").is_displayed(), "the start form is hidden once running")
        poll(lambda: (agg_requests(d) or 0) > 0, "requests in the table", 30)
        poll(lambda: text(d, "state") == "ended", "the run to end by itself", 60)
        verdict = d.find_element(By.ID, "verdict")
        check(verdict.get_attribute("data-result") in ("PASS", "FAIL"), f"#verdict: {verdict.text!r}")
        check(d.find_element(By.ID, "target-users").get_attribute("data-value") == "4", "4 users as asked")
        shown_code = exit_shown(d)
        for a in d.find_elements(By.CSS_SELECTOR, "#links a"):
            href = a.get_attribute("href")
            check(href.endswith(f"?token={token}"), f"the link {href} carries the token")
            with urllib.request.urlopen(href, timeout=10) as r:
                check(r.status == 200, f"{href} answers 200")
            refused(href.split("?")[0])
        watch.check_token(origin, token)
        watch.check_clean(origin)
    except Exception:
        report_failure(d, lg, work / "failure-start.png")
        raise
    finally:
        if d:
            d.quit()
        code = lg.stop()
    check(code == shown_code, f"loadgen ui's exit status {code} is the one the page showed")


def report_failure(d, lg, shot):
    print(lg.dump(), file=sys.stderr)
    if d is None:
        return
    try:
        d.save_screenshot(str(shot))
        print(f"--- page (screenshot in {shot}) ---", file=sys.stderr)
        for id_ in ["state", "conn", "error", "users", "elapsed", "steer-error", "start-error", "verdict"]:
            print(f"#{id_}: {text(d, id_)!r}", file=sys.stderr)
        for c in d.get_log("browser"):
            print(f"console: {c}", file=sys.stderr)
    except Exception as e:
        print(f"(could not read the page: {e})", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--screenshot", type=Path)
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser")
                    or shutil.which("google-chrome"))
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    ap.add_argument("--case", choices=["run", "start", "all"], default="all")
    ap.add_argument("--budget", type=int, default=240, help="seconds for everything; then the browser and "
                    "loadgen are stopped and the test fails (below the Rust wrapper's bound)")
    args = ap.parse_args()
    # Selenium wants paths; a bare name is looked up on PATH here (else Selenium Manager would go to the network).
    for attr in ("chromium", "chromedriver"):
        name = getattr(args, attr)
        if name and os.path.sep not in name:
            setattr(args, attr, shutil.which(name) or name)

    def out_of_time(*_):
        raise Failed(f"the whole test took more than {args.budget} s")
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.budget)
    with tempfile.TemporaryDirectory(prefix="loadgen-ui-") as tmp:
        work = Path(tmp)
        try:
            if args.case in ("run", "all"):
                case_run(args, work)
            if args.case in ("start", "all"):
                case_start(args, work)
        except Exception as e:  # noqa: BLE001 (a Selenium error fails the test the same way)
            print(f"FAILED: {e}", file=sys.stderr)
            keep = Path(tempfile.gettempdir()) / "loadgen-ui-failure"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(work, keep, ignore=shutil.ignore_patterns("profile*"))
            print(f"(the run's files and screenshots are kept in {keep})", file=sys.stderr)
            sys.exit(1)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
