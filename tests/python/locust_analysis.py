"""An analysis written the way Locust users write them against Locust's --csv files, run unchanged on
loadgen's. Usage: python3 locust_analysis.py PREFIX. Prints a JSON summary on stdout; exits non-zero (with
the reason on stderr) when the files do not read the way a Locust analysis expects."""
import json
import sys

import pandas as pd

prefix = sys.argv[1]

stats = pd.read_csv(f"{prefix}_stats.csv")
history = pd.read_csv(f"{prefix}_stats_history.csv")
failures = pd.read_csv(f"{prefix}_failures.csv")
exceptions = pd.read_csv(f"{prefix}_exceptions.csv")

# The columns Locust analyses read, by name.
wanted = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time",
          "Average Response Time", "95%", "99%", "Requests/s", "Failures/s"]
missing = [c for c in wanted if c not in stats.columns]
assert not missing, f"stats file lacks {missing}"

total = stats[stats["Name"] == "Aggregated"].iloc[0]
endpoints = stats[stats["Name"] != "Aggregated"]
assert pd.isna(total["Type"]), "the Aggregated row has an empty Type"

# Typical checks: error ratio, p95 per endpoint, slowest endpoint, throughput.
error_ratio = total["Failure Count"] / total["Request Count"]
slowest = endpoints.sort_values("95%", ascending=False).iloc[0]["Name"]
p95_by_name = dict(zip(endpoints["Name"], endpoints["95%"].astype(float)))
assert endpoints["Request Count"].sum() == total["Request Count"], "rows add up to Aggregated"
assert (endpoints["99%"] <= endpoints["100%"]).all(), "p99 never above the max"

# The history: a time-indexed frame of the Aggregated rows.
agg = history[history["Name"] == "Aggregated"].copy()
agg["Timestamp"] = pd.to_datetime(agg["Timestamp"], unit="s")
agg = agg.set_index("Timestamp")
assert agg.index.is_monotonic_increasing, "history in time order"
peak_users = int(agg["User Count"].max())
peak_rps = float(agg["Requests/s"].max())
last_total = int(agg["Total Request Count"].iloc[-1])

print(json.dumps({
    "requests": int(total["Request Count"]),
    "failures": int(total["Failure Count"]),
    "error_ratio": float(error_ratio),
    "median_ms": float(total["Median Response Time"]),
    "p95_ms": float(total["95%"]),
    "p99_ms": float(total["99%"]),
    "rps": float(total["Requests/s"]),
    "slowest": slowest,
    "p95_by_name": p95_by_name,
    "history_rows": int(len(agg)),
    "peak_users": peak_users,
    "peak_rps": peak_rps,
    "last_total_requests": last_total,
    "failure_rows": int(len(failures)),
    "failure_occurrences": int(failures["Occurrences"].sum()) if len(failures) else 0,
    "exception_rows": int(len(exceptions)),
}))
