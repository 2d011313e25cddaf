"""Settings Sync latency with and without encryption, handled in-process by the sync function's handler.

One run against moto in-process: 20 users, each with a ~4 KiB ``settings`` document. Rounds alternate the
same requests between two instances of the same handler: one with the envelope encryption it deploys with
(per-user KMS data keys, AES-256-GCM, keys cached in memory) and one with encryption switched off (the same
store, a no-op cipher, no KMS). Each request is an API Gateway event through ``lambda_handler``: token
verification, the rate limit, the store's DynamoDB (and KMS) calls, the answer.

Latencies exclude the time moto spends inside its own request handling (it stands for the network and the
service; moto's is unlike AWS's) and report it separately, with the P95 including it. The KMS column counts
KMS requests per 1,000 requests of the encrypted handler, first requests (data-key creation) included.
Budget: each P95 of the encrypted handler at most 2x the unencrypted one.
"""

from __future__ import annotations

import gc
import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.emulator import Emulator, in_process_aws, timed_emulator
from bench.percentiles import percentile

BUDGET_RATIO = 2.0
USERS = 20
ROUNDS = 25
DOCUMENT_BYTES = 4096
ROUTE = "ANY /sync/{proxy+}"


@dataclass
class Series:
    samples_ms: list[float] = field(default_factory=list)  # in-process time, emulator excluded
    totals_ms: list[float] = field(default_factory=list)  # including the emulator
    emulator_ms: list[float] = field(default_factory=list)
    aws_calls: int = 0

    def percentile(self, fraction: float, values: list[float] | None = None) -> float:
        return percentile(self.samples_ms if values is None else values, fraction)


@dataclass(frozen=True)
class Result:
    series: dict[tuple[str, str], Series]  # (operation, variant)
    kms_per_thousand: float
    requests: int

    def ratio(self, operation: str) -> float:
        plain = self.series[(operation, "plain")].percentile(0.95)
        return self.series[(operation, "encrypted")].percentile(0.95) / plain

    @property
    def ok(self) -> bool:
        return all(self.ratio(op) <= BUDGET_RATIO for op in ("write", "read-latest"))


def _document(user: int, round_: int) -> str:
    settings = {f"editor.setting{i}": f"value-{user}-{round_}-{i}" for i in range(DOCUMENT_BYTES // 40)}
    return json.dumps({"version": 2, "machineId": f"machine-{user}", "content": json.dumps(settings)})


@contextmanager
def _service(routes: Any, service: Any) -> Iterator[None]:
    original = routes.service
    routes.service = lambda: service
    try:
        yield
    finally:
        routes.service = original


def measure(users: int = USERS, rounds: int = ROUNDS) -> Result:
    from tests.integration.events import context, http_event
    from tests.integration.sync_tokens import SyncIssuer

    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    issuer = SyncIssuer()
    extra = {"AUTH_ISSUERS": issuer.issuers_env(), "SYNC_RATE_LIMIT": str(10**9)}
    with in_process_aws(extra), timed_emulator():
        from functions.sync import handler
        from marketplace.platform import aws
        from marketplace.sync import routes
        from marketplace.sync.crypto import KmsDataKeys, PlainDataKeys
        from marketplace.sync.service import SyncService

        variants = {"encrypted": SyncService(KmsDataKeys()), "plain": SyncService(PlainDataKeys())}
        kms_calls = [0]

        def count(**_: Any) -> None:
            kms_calls[0] += 1

        aws.client("kms").meta.events.register("before-call.kms.*", count)
        lambda_context = context("sync")
        # users of each variant are distinct, so each handler builds its own data from scratch
        headers = {(v, u): issuer.headers(f"{v}-user-{u}") for v in variants for u in range(users)}
        series = {(op, v): Series() for op in ("write", "read-latest") for v in variants}
        encrypted_requests = 0

        def timed(variant: str, operation: str, event: dict[str, Any], record: bool) -> None:
            Emulator.reset()
            started = time.perf_counter()
            answer = handler.lambda_handler(event, lambda_context)
            elapsed = time.perf_counter() - started
            if answer["statusCode"] not in (200, 204):
                raise RuntimeError(f"{operation} answered {answer['statusCode']}: {answer.get('body')}")
            if record:
                cell = series[(operation, variant)]
                cell.samples_ms.append((elapsed - Emulator.seconds) * 1000)
                cell.totals_ms.append(elapsed * 1000)
                cell.emulator_ms.append(Emulator.seconds * 1000)
                cell.aws_calls += Emulator.calls

        gc.disable()
        try:
            for round_ in range(rounds + 1):  # round 0 warms both handlers up and is not recorded
                for variant, service in variants.items():
                    with _service(routes, service):
                        for user in range(users):
                            sent = headers[(variant, user)]
                            write = http_event("POST", "/sync/v1/resource/settings", ROUTE,
                                               {**sent, "content-type": "text/plain"}, _document(user, round_))
                            timed(variant, "write", write, record=round_ > 0)
                            read = http_event("GET", "/sync/v1/resource/settings/latest", ROUTE,
                                              {**sent, "cache-control": "no-cache"})
                            timed(variant, "read-latest", read, record=round_ > 0)
                            if variant == "encrypted":
                                encrypted_requests += 2
                gc.collect()
        finally:
            gc.enable()
        return Result(series, kms_calls[0] * 1000 / encrypted_requests, encrypted_requests)


def table(result: Result) -> str:
    samples = len(next(iter(result.series.values())).samples_ms)
    lines = [
        f"Settings Sync through the handler, in-process against moto: {USERS} users, ~{DOCUMENT_BYTES // 1024} KiB "
        f"documents, {samples} requests per row (emulator time excluded; budget: encrypted P95 <= "
        f"{BUDGET_RATIO:.0f}x unencrypted)",
        "",
        "| operation   | encryption | P50 ms | P95 ms | P95 ms incl. emulator | emulator ms (median) | AWS calls |",
        "|-------------|------------|-------:|-------:|----------------------:|---------------------:|----------:|",
    ]
    for (operation, variant), cell in result.series.items():
        lines.append(
            f"| {operation:<11} | {'on' if variant == 'encrypted' else 'off':<10} | {cell.percentile(0.5):>6.2f} | "
            f"{cell.percentile(0.95):>6.2f} | {cell.percentile(0.95, cell.totals_ms):>21.2f} | "
            f"{cell.percentile(0.5, cell.emulator_ms):>20.2f} | {cell.aws_calls / len(cell.samples_ms):>9.2f} |"
        )
    lines += ["", "| operation   | P95 ratio (on / off) | within budget |",
              "|-------------|---------------------:|:-------------:|"]
    for operation in ("write", "read-latest"):
        ratio = result.ratio(operation)
        lines.append(f"| {operation:<11} | {ratio:>20.2f} | {'yes' if ratio <= BUDGET_RATIO else 'NO':^13} |")
    lines += ["", f"KMS calls per 1,000 encrypted requests: {result.kms_per_thousand:.2f} "
                  f"({result.requests} requests, data keys cached 300 s)"]
    return "\n".join(lines)
