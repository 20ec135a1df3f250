//! Micro-benchmarks of what loadgen does per request besides the network: build the request of a step
//! (render templates, headers, JSON body) and write it into the user's send buffer, and record its outcome into
//! a metrics shard.
//!
//! `cargo bench --bench hot_path`. These guard the per-request path against regressions; the end-to-end
//! figures (CPU per request against wrk and oha) come from `benches/run.py`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use loadgen::engine::bench::Requests;
use loadgen::metrics::{Outcome, Shard};

fn requests() -> Requests {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/stress.toml");
    let loaded = loadgen::scenario::load(&root).expect("the shipped scenario loads");
    let plan = loadgen::plan::resolve(&loaded, &loadgen::plan::Overrides::default())
        .expect("and resolves");
    Requests::new(
        plan,
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZ18xIn0.c2lnbmF0dXJl",
    )
    .expect("shared state")
}

fn bench(c: &mut Criterion) {
    let mut requests = requests();
    for name in ["verify_token", "rate_limited_operation", "register"] {
        let idx = requests.step(name).expect("step exists");
        c.bench_function(&format!("build/{name}"), |b| {
            b.iter(|| black_box(requests.render(black_box(idx)).expect("builds")))
        });
    }
    let mut shard = Shard::new(requests.steps());
    let outcome = Outcome {
        delay: None,
        latency: Some(Duration::from_micros(1234)),
        ttfb: Some(Duration::from_micros(1100)),
        status: Some(200),
        bytes: 120,
        failure: None,
        client: Default::default(),
    };
    c.bench_function("record/ok", |b| {
        b.iter(|| shard.record(black_box(2), black_box(&outcome)))
    });
    c.bench_function("recorder/record_ok", |b| {
        b.iter(|| {
            requests
                .recorder()
                .record(black_box(7), black_box(2), black_box(&outcome))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
