"""Tokens minted by an implementation nobody at kit wrote (PyJWT, with
cryptography's keys), for kit-auth's tests against a real peer.

Usage: python mint_tokens.py OUT_DIR ISSUER AUDIENCE

Writes OUT_DIR/jwks.json (an RSA key `rsa-1` pinned to RS256, an EC P-256 key
`ec-1` pinned to ES256 and an Ed25519 key `ed-1` pinned to EdDSA, public parts only) and OUT_DIR/tokens.json: a name ->
token map, one good token per key and one of each way a token must be refused.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    out, issuer, audience = sys.argv[1], sys.argv[2], sys.argv[3]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update({"kid": "rsa-1", "alg": "RS256", "use": "sig"})
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update({"kid": "ec-1", "alg": "ES256", "use": "sig"})
    ed_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed_key.public_key()))
    ed_jwk.update({"kid": "ed-1", "alg": "EdDSA", "use": "sig"})
    with open(os.path.join(out, "jwks.json"), "w") as f:
        json.dump({"keys": [rsa_jwk, ec_jwk, ed_jwk]}, f)

    now = int(time.time())
    good = {"sub": "alice", "iss": issuer, "aud": audience, "iat": now,
            "exp": now + 600, "scope": "sum concat"}

    def sign(claims, key=rsa_key, alg="RS256", kid="rsa-1"):
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    tokens = {
        "good_rs256": sign(good),
        "good_es256": sign({**good, "sub": "bob", "scope": "sum"}, ec_key, "ES256", "ec-1"),
        "good_eddsa": sign({**good, "sub": "dave"}, ed_key, "EdDSA", "ed-1"),
        "concat_only": sign({**good, "sub": "carol", "scope": "concat"}),
        "expired": sign({**good, "exp": now - 3600}),
        "not_yet_valid": sign({**good, "nbf": now + 3600}),
        "wrong_audience": sign({**good, "aud": "someone-else"}),
        "wrong_issuer": sign({**good, "iss": "https://evil.example"}),
        "unknown_key": sign(good, stranger, "RS256", "rsa-1"),
        "no_expiry": sign({k: v for k, v in good.items() if k != "exp"}),
        "alg_none": jwt.encode(good, None, algorithm="none"),
    }
    # HS256 "signed" with the RSA public key as the HMAC secret: the classic
    # algorithm confusion (PyJWT refuses to make it, so it is made by hand).
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(good).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    tokens["hs256_with_rsa_public_key"] = f"{header}.{payload}.{b64(mac)}"
    # The good token with its payload changed (admin scope), signature kept.
    h, _, s = tokens["good_rs256"].split(".")
    forged = b64(json.dumps({**good, "scope": "admin"}).encode())
    tokens["tampered"] = f"{h}.{forged}.{s}"
    tokens["huge"] = sign({**good, "pad": "x" * 65536})
    tokens["malformed"] = "this-is.not-a.jwt!"
    with open(os.path.join(out, "tokens.json"), "w") as f:
        json.dump(tokens, f)


if __name__ == "__main__":
    main()
