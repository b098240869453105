//! Verifying a token per call: kit-auth's `Verifier::verify` against
//! `jsonwebtoken::decode` with the same key and checks, in the same run.
//! Run with: cargo bench -p kit-auth
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kit_auth::Verifier;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    scope: String,
}

fn token() -> String {
    let claims = Claims {
        sub: "alice".into(),
        iss: "https://issuer".into(),
        aud: "addsvc".into(),
        exp: jsonwebtoken::get_current_timestamp() + 3600,
        scope: "sum concat".into(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let token = token();
    let verifier = Verifier::from_secret(SECRET, "https://issuer", "addsvc").unwrap();
    let key = DecodingKey::from_secret(SECRET);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["https://issuer"]);
    validation.set_audience(&["addsvc"]);
    let mut group = c.benchmark_group("verify HS256");
    group.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(&token, &key, &validation).unwrap())
    });
    group.bench_function("kit_auth::Verifier::verify", |b| {
        b.iter(|| verifier.verify(&token).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
