"""Token verification in another service, on one core (auth issue: ≥ 10,000/s).

Runs `bench_token_verify.py` (cold, cached, refused paths through `TokenVerifier`, which now
checks Ed25519 with libsodium) and then compares the bare signature check of the two
libraries on the same message: OpenSSL through `cryptography`, and libsodium through PyNaCl.
Prints tables; always exits 0.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open

from benchmarks import bench_token_verify


def raw_rates(calls: int = 20_000) -> list[tuple[str, float]]:
    message = os.urandom(450)  # header.claims of a token are about this long
    key = Ed25519PrivateKey.generate()
    signature, public = key.sign(message), key.public_key()
    raw = public.public_bytes_raw()
    rates = []
    start = time.perf_counter()
    for _ in range(calls):
        public.verify(signature, message)
    rates.append(("OpenSSL (cryptography) Ed25519 verify", calls / (time.perf_counter() - start)))
    start = time.perf_counter()
    for _ in range(calls):
        crypto_sign_open(signature + message, raw)
    rates.append(("libsodium (PyNaCl) Ed25519 verify", calls / (time.perf_counter() - start)))
    return rates


def main() -> int:
    bench_token_verify.main()
    print("\n| signature check alone, one core | rate |\n| --- | --- |")
    for name, rate in raw_rates():
        print(f"| {name} | **{rate:,.0f}/s** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
