"""Batch evaluation benchmark: prints figures, asserts nothing.

1. Batch: every policy document in policies/zhengzhou (or one, --policy) over a
   generated population (bench/population.py) with `rules.batch.evaluate_population`;
   reports the time per policy and in all, and peak memory (RSS, this process and
   its workers).
2. Agreement: for --sample enterprises with records, the batch answer is compared
   with `rules.evaluate` for every policy, to the fen.
3. Latency (--latency): one enterprise's full evaluation with explanation —
   `rules.assess` under every policy — timed for --latency-enterprises enterprises
   with records; median and p99.

    .venv/bin/python bench/evaluation.py --enterprises 1000000 --workers 2
    .venv/bin/python bench/evaluation.py --enterprises 100000 \\
        --policy zz-2022-23-unemployment-insurance-job-retention-refund
    .venv/bin/python bench/evaluation.py --enterprises 100000 --latency
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from population import generate

from mianshen_shared.config import REPO_ROOT
from mianshen_shared.rules import CompiledPolicy, PolicyInvalid, assess, compile_policy, evaluate
from mianshen_shared.rules.batch import BatchStats, Population, evaluate_population

POLICY_DIR = REPO_ROOT / "policies" / "zhengzhou"

# Shared with forked workers, which inherit them instead of receiving copies.
_POPULATION: Population | None = None
_POLICIES: list[CompiledPolicy] = []
_SAMPLE: list[int] = []


def load_policies(only: str | None) -> list[CompiledPolicy]:
    from mianshen_shared.rules import load_policy_file

    policies = []
    for path in sorted(POLICY_DIR.glob("*.yaml")):
        try:
            policy = compile_policy(load_policy_file(path))
        except PolicyInvalid as exc:
            print(f"  skipped {path.name}: {exc}", file=sys.stderr)
            continue
        if only is None or policy.id == only:
            policies.append(policy)
    if not policies:
        raise SystemExit(f"no policy {only!r} in {POLICY_DIR}")
    return policies


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident set size of this process and of its largest finished child, MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def run_policies(indices: Sequence[int]) -> tuple[float, list[dict[str, Any]]]:
    """Evaluate the policies at `indices`, then check them on the sample; returns
    when the evaluations were done (perf_counter is system-wide on Linux) and rows."""
    assert _POPULATION is not None
    population = _POPULATION
    results = []
    for i in indices:
        policy = _POLICIES[i]
        stats = BatchStats()
        started = time.perf_counter()
        result = evaluate_population(policy, population, stats=stats)
        results.append((policy, stats, time.perf_counter() - started, result))
    done = time.perf_counter()
    out = []
    for policy, stats, seconds, result in results:
        mismatches = []
        for owner in _SAMPLE:
            code = population.uscc[owner]
            want = [
                (a.award_key, a.amount_fen)
                for a in evaluate(
                    policy,
                    uscc=code,
                    facts=population.facts_of(owner, policy.input_record_types),
                    history=population.history_of(policy.id, owner),
                )
            ]
            got = [tuple(a) for a in result.get(code, [])]
            if got != want:
                mismatches.append((code, got, want))
        out.append(
            {
                "policy": policy.id,
                "seconds": seconds,
                "enterprises": len(result),
                "fen": sum(a.amount_fen for awards in result.values() for a in awards),
                "stats": stats,
                "mismatches": mismatches,
            }
        )
    return done, out


def batch(workers: int) -> float:
    costs = [
        sum(len(t) for rt, t in _POPULATION.tables.items() if rt in p.input_record_types)  # type: ignore[union-attr]
        for p in _POLICIES
    ]
    # Dearest first, each to the least loaded worker.
    shares: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for i in sorted(range(len(_POLICIES)), key=lambda i: -costs[i]):
        w = loads.index(min(loads))
        shares[w].append(i)
        loads[w] += costs[i] + 1
    started = time.perf_counter()
    if workers == 1:
        parts = [run_policies(shares[0])]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(run_policies, shares)
    wall = max(done for done, _ in parts) - started
    rows = [row for _, part in parts for row in part]
    print(f"\n{'policy':62} {'s':>7} {'counted':>8} {'awarded':>8} {'total 万元':>12} {'1-by-1':>7}  sample")
    for row in sorted(rows, key=lambda r: r["policy"]):
        stats = row["stats"]
        mode = "" if stats.vectorised else f"  (whole policy 1-by-1: {stats.reason})"
        verdict = "agree" if not row["mismatches"] else f"{len(row['mismatches'])} DISAGREE"
        print(
            f"{row['policy']:62} {row['seconds']:7.3f} {stats.records_counted:8d} {row['enterprises']:8d} "
            f"{row['fen'] / 1_000_000:12,.1f} {stats.enterprises_delegated:7d}  {verdict}{mode}"
        )
        for code, got, want in row["mismatches"][:3]:
            print(f"      {code}: batch {got} engine {want}")
    evaluation = sum(r["seconds"] for r in rows)
    disagreeing = sum(len(r["mismatches"]) for r in rows)
    print(
        f"\n{len(rows)} policies evaluated in {wall:.2f} s wall with {workers} worker(s) "
        f"(sum of per-policy times {evaluation:.2f} s; the sample check runs afterwards, untimed); "
        f"sample of {len(_SAMPLE)} enterprises with records: {disagreeing} disagreements"
    )
    return wall


def latency(population: Population, policies: Sequence[CompiledPolicy], count: int, rng: np.random.Generator) -> None:
    with_records = np.unique(np.concatenate([t.owner for t in population.tables.values()]))
    chosen = rng.choice(with_records, min(count, len(with_records)), replace=False)
    types = set().union(*(p.input_record_types for p in policies))
    cases = [
        (
            population.uscc[o],
            population.facts_of(int(o), types),
            {p.id: population.history_of(p.id, int(o)) for p in policies},
        )
        for o in chosen.tolist()
    ]
    for code, facts, paid in cases[:50]:  # warm up caches as a running service would have
        for p in policies:
            assess(p, uscc=code, facts=facts, history=paid[p.id])
    whole, single = [], []
    for code, facts, paid in cases:
        started = time.perf_counter()
        for p in policies:
            t = time.perf_counter()
            assess(p, uscc=code, facts=facts, history=paid[p.id])
            single.append(time.perf_counter() - t)
        whole.append(time.perf_counter() - started)
    whole.sort()
    single.sort()

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    records = statistics.mean(len(f) for _, f, _ in cases)
    print(
        f"\nlatency: full assess() under all {len(policies)} policies for one enterprise "
        f"({len(cases)} enterprises with records, {records:.1f} records each on average): "
        f"median {pct(whole, 0.5):.2f} ms, p99 {pct(whole, 0.99):.2f} ms, max {whole[-1] * 1000:.2f} ms"
    )
    print(f"         one assess() under one policy: median {pct(single, 0.5):.3f} ms, p99 {pct(single, 0.99):.3f} ms")


def main() -> None:
    global _POPULATION, _POLICIES, _SAMPLE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--policy", help="one policy id (default: every document)")
    parser.add_argument("--sample", type=int, default=2_000, help="enterprises checked against rules.evaluate")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the policies (fork)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency", action="store_true", help="time one enterprise's full assess() instead")
    parser.add_argument("--latency-enterprises", type=int, default=2_000)
    args = parser.parse_args()

    all_policies = load_policies(None)
    _POLICIES = [p for p in all_policies if args.policy is None or p.id == args.policy]
    if not _POLICIES:
        raise SystemExit(f"no policy {args.policy!r} in {POLICY_DIR}")
    started = time.perf_counter()
    _POPULATION = generate(args.enterprises, seed=args.seed, policies=all_policies)
    generated = time.perf_counter() - started
    records = sum(len(t) for t in _POPULATION.tables.values())
    paid = sum(len(h) for h in _POPULATION.history.values())
    print(
        f"population: {args.enterprises:,} enterprises, {records:,} records of {len(_POPULATION.tables)} types, "
        f"{paid:,} (enterprise, policy) histories; generated in {generated:.1f} s; "
        f"{len(all_policies)} policy documents"
    )
    rng = np.random.default_rng(args.seed + 1)
    if args.latency:
        latency(_POPULATION, all_policies, args.latency_enterprises, rng)
    else:
        with_records = np.unique(np.concatenate([t.owner for t in _POPULATION.tables.values()]))
        _SAMPLE = sorted(rng.choice(with_records, min(args.sample, len(with_records)), replace=False).tolist())
        batch(args.workers)
    own, children = peak_rss_mb()
    print(f"peak RSS: this process {own:,.0f} MB, largest worker {children:,.0f} MB")


if __name__ == "__main__":
    main()
