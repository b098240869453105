//! Verifying a token per call: kit-auth's `Verifier::verify` (a new token,
//! and one seen before) against `jsonwebtoken::decode` with the same key and
//! checks, in the same run.
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
    token_for("alice")
}

fn token_for(sub: &str) -> String {
    let claims = Claims {
        sub: sub.into(),
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
    // A token it has not seen (10,000 of them in turn, ten times what it
    // remembers): the signature and the claims checked, the token remembered.
    let many: Vec<String> = (0..10_000)
        .map(|i| token_for(&format!("user{i}")))
        .collect();
    let mut next = many.iter().cycle();
    group.bench_function("kit_auth::Verifier::verify, a new token", |b| {
        b.iter(|| verifier.verify(next.next().unwrap()).unwrap())
    });
    // The same token again: remembered until it expires.
    verifier.verify(&token).unwrap();
    group.bench_function("kit_auth::Verifier::verify, a token seen before", |b| {
        b.iter(|| verifier.verify(&token).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
