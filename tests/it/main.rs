//! Integration tests: they run the real `loadgen` binary (see `util`) against the built-in reference API on
//! loopback ports chosen by the OS (and, in `netns`, in network namespaces the test creates).

mod arrival;
// Issue 18 items 4 and 5: default headers, env defaults, bodies.
mod bodies;
mod compression;
// Issue 20 item 5: shell completions and the man page.
mod completions;
mod cookies;
mod corpus;
mod corpus_gen;
mod csv;
mod data;
// Issue 18 item 6: `run --debug N`.
mod debug;
// Issue 20 item 8.
mod demo_child;
mod dns;
mod files;
// Issue 21 items 3 and 5: `run --find-limit`.
mod find_limit;
mod golden;
mod html;
mod http2;
// Issue 20 item 2: `loadgen import har`.
mod import_har;
// Issue 20 item 3: `loadgen import locust`.
mod import_locust;
// Issue 20 item 7: `loadgen init` and the smallest scenario of the README.
mod init;
mod k8s;
mod language;
mod layers;
// Issue 20 item 1: the CSV files beside real Locust's.
mod locust_csv;
mod merge_windows;
mod mix;
mod netns;
// A test origin for the client's cookies, redirects and compression (issue 17, items 2, 4, 5).
mod origin_server;
mod preflight;
mod prometheus;
mod proxy;
mod redirects;
mod release;
mod reliability;
mod requests;
mod run;
mod scenario_errors;
// Issue 20 item 6: the editor schema of the scenario format.
mod scenario_schema;
mod schema;
mod segmenting;
mod segments;
// Issue 18, item 7: the built-in API's shop, from the server's side.
mod monitor;
mod shop_api;
// Issue 21 items 1, 2 and 5: `loadgen suite` and the combined report.
mod suite;
mod tls;
// Issue 19 item 5: the live page of a real run, in headless Chromium with Selenium.
mod ui;
mod ui_api;
mod util;
mod verdict;
