//! Integration tests: they run the real `loadgen` binary (see `util`) against the built-in reference API on
//! loopback ports chosen by the OS (and, in `netns`, in network namespaces the test creates).

mod arrival;
mod corpus;
mod corpus_gen;
mod csv;
mod data;
mod dns;
mod files;
mod golden;
mod html;
mod k8s;
mod layers;
mod merge_windows;
mod mix;
mod netns;
mod preflight;
mod prometheus;
mod proxy;
mod reliability;
mod requests;
mod run;
mod scenario_errors;
mod schema;
mod segmenting;
mod segments;
mod tls;
mod util;
mod verdict;
