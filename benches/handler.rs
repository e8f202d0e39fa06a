//! The handler's per-request cost: `handler/authenticate` runs a request
//! with a login cookie through the tower `AuthLayer` around an empty
//! service (credential extraction, verification, the session checks and the
//! user directory's `Standing`), next to `handler/no_layer` (the same
//! request through the empty service alone) and `handler/verify_only` (the
//! bare `Verifier::verify_in`), so the layer's share shows in one run.
//! Run: `cargo bench -p encapsulated-token --features axum --bench handler`.

use std::collections::HashSet;
use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use encapsulated_token::handler::{AuthConfig, Authenticator, Identity};
use encapsulated_token::{Key, KeyRing, TokenBuffer};
use http::{Request, Response, StatusCode, header};
use tower::{Layer, Service, ServiceExt, service_fn};

fn bench_handler(c: &mut Criterion) {
    let users: HashSet<String> = ["alice@example.org.uk".to_string()].into();
    let auth = Authenticator::new(
        KeyRing::new(Key::generate().expect("OS RNG")),
        AuthConfig::new().with_audience("publish"),
        users,
    )
    .expect("a valid config");
    let claims = auth
        .claims_for("alice@example.org.uk")
        .with_attribute("role", "editor")
        .with_attribute("tenant", "acme");
    let token = auth.mint(&claims).expect("mints");
    let cookie = format!("theme=dark; login-token={token}; lang=en");
    let request = || {
        Request::get("/content/page.html")
            .header(header::COOKIE, cookie.as_str())
            .body(String::new())
            .expect("a request")
    };
    let inner = service_fn(|request: Request<String>| async move {
        let status = match request.extensions().get::<Identity>() {
            Some(_) => StatusCode::OK,
            None => StatusCode::NO_CONTENT,
        };
        let mut response = Response::new(String::new());
        *response.status_mut() = status;
        Ok::<_, Infallible>(response)
    });
    let guarded = auth.layer().layer(inner);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");

    // What the loops time must succeed.
    let response = runtime
        .block_on(guarded.clone().oneshot(request()))
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "authenticated");

    let mut group = c.benchmark_group("handler");
    group.bench_function("authenticate", |b| {
        let mut service = guarded.clone();
        b.iter(|| {
            let response = runtime.block_on(service.call(request())).unwrap();
            black_box(response.status())
        })
    });
    group.bench_function("no_layer", |b| {
        let mut service = inner;
        b.iter(|| {
            let response = runtime.block_on(service.call(request())).unwrap();
            black_box(response.status())
        })
    });
    group.bench_function("verify_only", |b| {
        let verifier = auth.verifier();
        let mut buffer = TokenBuffer::new();
        b.iter(|| {
            let verified = verifier.verify_in(black_box(&token), &mut buffer);
            black_box(verified.is_ok())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_handler);
criterion_main!(benches);
