"""Access-token verification on one core (issue: "≥ 10,000/s in another service").

Mints `--tokens` distinct Ed25519 access tokens (as `tests/support/tokens.py` does, for
`--users` users of 100 employers), then measures `TokenVerifier.verify` pinned to one CPU:

- **cold**: every token once, each a cache miss (parse, Ed25519 signature, claims);
- **warm**: the same tokens again, `--passes` times, each a cache hit (expiry, key still
  published, revocations);
- **warm + authorize**: a hit plus the policy decision of `require("list.upload")`;
- **refused**: a bad signature (costs a signature check) and garbage (refused before one);
- the raw Ed25519 signature check of OpenSSL alone, the floor of the cold path.

Latency per call from `perf_counter_ns`; memory of the cache from `tracemalloc` in a separate
pass (tracing slows everything), peak RSS from `getrusage`. Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.runtime.access import (
    POLICY,
    AccessDenied,
    Revocations,
    TokenVerifier,
    authorize,
)
from services.runtime.clock import FixedClock
from tests.support.tokens import TokenMint

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
TARGET = 10_000


def pin_to_one_cpu() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def timed(calls: list[Callable[[], object]]) -> tuple[float, list[int]]:
    """Wall seconds for all calls, and each call's nanoseconds."""
    clock = time.perf_counter_ns
    each = [0] * len(calls)
    start = clock()
    for i, call in enumerate(calls):
        t0 = clock()
        with contextlib.suppress(AccessDenied):
            call()
        each[i] = clock() - t0
    return (clock() - start) / 1e9, each


def row(name: str, seconds: float, each: list[int], note: str = "") -> str:
    n = len(each)
    q = statistics.quantiles(each, n=100, method="inclusive")
    rate = n / seconds
    return (
        f"| {name} | {n:,} | **{rate:,.0f}/s** | {q[49] / 1000:.1f} | {q[94] / 1000:.1f} | "
        f"{q[98] / 1000:.1f} | {note} |"
    )


def verifier_for(mint: TokenMint, clock: FixedClock, cache_size: int) -> TokenVerifier:
    revocations = Revocations()
    for i in range(1_000):  # a realistic number of recent changes to look through
        revocations.revoke_user(uuid.uuid4(), NOW)
        revocations.revoke_credential(f"cert-{i}", NOW)
    return TokenVerifier(
        mint.key_set(),
        issuer=mint.issuer,
        audience=mint.audience,
        clock=clock,
        revocations=revocations,
        cache_size=cache_size,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    cpu = pin_to_one_cpu()

    clock = FixedClock(NOW)
    mint = TokenMint(clock=clock)
    users = [str(uuid.uuid4()) for _ in range(args.users)]
    t0 = time.perf_counter()
    tokens = [
        mint.mint(
            sub=users[i % len(users)],
            employer_no=1000 + i % 100,
            topics=["mutations", "messages", "contributions"],
            cid=f"sha256:{i:064x}",
        )
        for i in range(args.tokens)
    ]
    minted_s = time.perf_counter() - t0
    length = statistics.mean(len(t) for t in tokens)
    bad_signature = [mint.tampered(t, emp=1) for t in tokens[: args.tokens // 4]]
    garbage = ["x" * 400] * (args.tokens // 4)

    verifier = verifier_for(mint, clock, cache_size=max(args.tokens, 1))
    upload = POLICY["list.upload"]
    gc.collect()
    gc.freeze()

    # The floor: OpenSSL's Ed25519 check of one token-sized message, nothing else.
    public = mint.private_key.public_key()
    message = tokens[0].rsplit(".", 1)[0].encode()
    signature = mint.private_key.sign(message)
    raw_s, raw_each = timed([lambda: public.verify(signature, message)] * (args.tokens // 2))

    verify = verifier.verify
    cold_s, cold_each = timed([partial(verify, t) for t in tokens])
    warm_s, warm_each = timed([partial(verify, t) for t in tokens] * args.passes)

    def decide(token: str) -> None:
        principal = verify(token)
        authorize(principal, upload, employer_no=principal.employer_no)

    decide_s, decide_each = timed([partial(decide, t) for t in tokens] * args.passes)
    bad_s, bad_each = timed([partial(verify, t) for t in bad_signature])
    junk_s, junk_each = timed([partial(verify, t) for t in garbage])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Memory of a full cache, traced apart from the timings.
    gc.unfreeze()
    traced = verifier_for(mint, clock, cache_size=max(args.tokens, 1))
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for token in tokens:
        traced.verify(token)
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_token = (after - before) / len(tokens)

    where = f"CPU {cpu}" if cpu is not None else "unpinned"
    print(
        f"# bench_token_verify: {args.tokens:,} distinct tokens of {args.users:,} users, "
        f"{length:.0f} characters each, one core ({where})"
    )
    print()
    print("| path | calls | rate | p50 µs | p95 µs | p99 µs | |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    met = "met" if args.tokens / cold_s >= TARGET else "missed"
    print(row("cold: distinct tokens, cache misses", cold_s, cold_each, f"≥ {TARGET:,}/s: {met}"))
    met = "met" if len(warm_each) / warm_s >= TARGET else "missed"
    print(row("warm: cache hits", warm_s, warm_each, f"≥ {TARGET:,}/s: {met}"))
    print(row("warm + authorize (`list.upload`)", decide_s, decide_each))
    print(row("refused: bad signature", bad_s, bad_each))
    print(row("refused: garbage", junk_s, junk_each))
    print(row("OpenSSL Ed25519 verify alone (floor)", raw_s, raw_each))
    print()
    print(
        f"memory: cache of {len(tokens):,} tokens {(after - before) / 2**20:.1f} MiB "
        f"({per_token:,.0f} B per token; traced peak {peak / 2**20:.1f} MiB); "
        f"peak RSS of the process {rss:.0f} MiB. Minting (not measured) took {minted_s:.1f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
