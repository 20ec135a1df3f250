//! Micro-benchmarks of what loadgen does per request besides the network: build the request of a step
//! (render templates, headers, JSON body), and record its outcome into a metrics shard.
//!
//! `cargo bench --bench hot_path`. These guard the per-request path against regressions; the end-to-end
//! figures (CPU per request against wrk and oha) come from `benches/run.py`.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use loadgen::engine::request::build;
use loadgen::engine::shared::{Ctx, Shared, State};
use loadgen::metrics::{Outcome, Recorder, Shard};
use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

fn shared() -> Arc<Shared> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/stress.toml");
    let loaded = loadgen::scenario::load(&root).expect("the shipped scenario loads");
    let plan = loadgen::plan::resolve(&loaded, &loadgen::plan::Overrides::default())
        .expect("and resolves");
    let steps = plan.steps.len();
    let recorder = Arc::new(Recorder::new(steps, 4));
    Arc::new(
        Shared::new(
            Arc::new(plan),
            recorder,
            "r1".into(),
            CancellationToken::new(),
        )
        .expect("shared state"),
    )
}

fn step(shared: &Shared, name: &str) -> usize {
    shared
        .plan
        .steps
        .iter()
        .position(|s| s.name == name)
        .expect("step exists")
}

fn bench(c: &mut Criterion) {
    let shared = shared();
    let mut state = State {
        id: 42,
        number: 42,
        row: None,
        session: 3,
        captures: vec![
            Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZ18xIn0.c2lnbmF0dXJl".into());
            shared.plan.captures.len()
        ],
        rng: rand::rngs::SmallRng::seed_from_u64(1),
    };
    for name in ["verify_token", "rate_limited_operation", "register"] {
        let idx = step(&shared, name);
        c.bench_function(&format!("build/{name}"), |b| {
            b.iter(|| {
                let mut ctx = Ctx {
                    state: &mut state,
                    shared: &shared,
                };
                let idx = black_box(idx);
                black_box(
                    build(
                        &shared.plan.steps[idx],
                        &shared.prepared[idx],
                        &shared.base_path,
                        &mut ctx,
                    )
                    .expect("builds"),
                )
            })
        });
    }
    let mut shard = Shard::new(shared.plan.steps.len());
    let outcome = Outcome {
        delay: None,
        latency: Some(Duration::from_micros(1234)),
        ttfb: Some(Duration::from_micros(1100)),
        status: Some(200),
        bytes: 120,
        failure: None,
    };
    c.bench_function("record/ok", |b| {
        b.iter(|| shard.record(black_box(2), black_box(&outcome)))
    });
    c.bench_function("recorder/record_ok", |b| {
        b.iter(|| {
            shared
                .recorder
                .record(black_box(7), black_box(2), black_box(&outcome))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
