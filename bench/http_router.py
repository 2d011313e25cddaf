"""Cost of each HTTP router the API functions could use, measured in one run: Powertools'
``APIGatewayHttpResolver`` (what they used) and ``marketplace.platform.router`` (what they use).

Cold: each sample is a fresh interpreter in an environment shaped like Lambda's that first imports what every
HTTP function imports anyway (boto3 and one client, Powertools' ``Logger`` and ``Metrics``: not timed), then
times the candidate's import, building a resolver with CORS, the functions' error handlers and 23 rules in two
routers, and answering one request. Candidates are sampled round-robin, so machine noise hits them alike; the
table reports medians. Warm: in one fresh interpreter per candidate, the median time of one ``resolve`` over
2,000 extensionquery-like POSTs (1 KiB JSON body, gzip accepted) and 2,000 GETs of a dynamic rule from a
browser (CORS), alternating.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import lambda_shape

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = 2000


@dataclass(frozen=True)
class Candidate:
    name: str
    imports: str  # binds Resolver, Router, Response and Cors


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("powertools", """
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver as Resolver, CORSConfig as Cors, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
"""),
    Candidate("marketplace", """
from marketplace.platform.router import CorsConfig as Cors, Resolver, Response, Router
"""),
)

# The same application on both: the functions' CORS settings and error handlers (``platform.http.http_app``), a
# catalog router (static, dynamic, regular-expression and gzip rules) and an account router (middlewares).
_APPLICATION = """
import json

JSON = "application/json"
CORS = Cors(allow_origin="*", allow_headers=["Authorization", "Content-Type", "Cache-Control", "If-Match",
            "If-None-Match", "X-Market-Client-Id", "X-Market-User-Id", "VSCode-SessionId", "X-Client-Name"],
            expose_headers=["ETag", "Location", "Retry-After", "X-Operation-Id"], max_age=600)
catalog, account = Router(), Router()


def answer(status, value, headers=None):
    return Response(status_code=status, content_type=JSON, body=json.dumps(value, separators=(",", ":")),
                    headers=headers or {})


@catalog.post("/_apis/public/gallery/extensionquery", compress=True)
def extension_query():
    query = json.loads(catalog.current_event["body"])
    return answer(200, {"results": [{"extensions": [], "echo": query}]}, {"activityid": "bench"})


def item(publisher, name):
    return answer(200, {"publisher": publisher, "name": name}, {"Cache-Control": "public, max-age=300"})


def static():
    return answer(200, {"ok": True})


for i in range(5):
    catalog.get(f"/_apis/public/gallery/static{i}")(static)
    catalog.get(f"/_apis/public/gallery/item{i}/<publisher>/<name>", compress=True)(item)
catalog.get("/_apis/public/gallery/resources/.+")(static)
catalog.get("/api/<namespace>(?:/.*)?", compress=True)(static)


def tag(app, next_middleware):
    app.append_context(principal=app.current_event.headers.get("authorization"))
    return next_middleware(app)


def resource(resource):
    return answer(200, {"resource": resource, "principal": account.context.get("principal")})


for i in range(5):
    account.get(f"/v1/resource{i}/<resource>", middlewares=[tag])(resource)
    account.route(f"/v1/collection{i}/<resource>", ["POST", "DELETE"], middlewares=[tag])(resource)

app = Resolver(cors=CORS)


@app.not_found
def not_found(error):
    return answer(404, {"error": "not_found", "message": "No route"})


class DomainError(Exception):
    pass


@app.exception_handler(DomainError)
def domain_error(error):
    return answer(400, {"error": "bad_request", "message": str(error)})


@app.exception_handler(Exception)
def unexpected(error):
    return answer(500, {"error": "internal_error", "message": "Internal error"})


app.include_router(catalog)
app.include_router(account)
"""


def _event(method: str, path: str, headers: dict[str, str], body: str | None = None) -> dict[str, object]:
    """An API Gateway HTTP API event (payload format 2.0), shaped like the local runtime's."""
    event: dict[str, object] = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "api.example.com", "user-agent": "VSCode/1.99.0", **headers},
        "requestContext": {
            "accountId": "000000000000", "apiId": "bench", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9",
                     "userAgent": "VSCode/1.99.0"},
            "requestId": "bench-request=", "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 1767225600000,
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body
    return event


_QUERY = json.dumps({"filters": [{"criteria": [{"filterType": 8, "value": "Microsoft.VisualStudio.Code"},
                                               {"filterType": 10, "value": "python " * 110},
                                               {"filterType": 12, "value": "37888"}],
                                  "pageNumber": 1, "pageSize": 50, "sortBy": 0, "sortOrder": 0}],
                     "assetTypes": [], "flags": 950})
POST = _event("POST", "/_apis/public/gallery/extensionquery",
              {"content-type": "application/json", "accept-encoding": "gzip, deflate, br"}, _QUERY)
GET = _event("GET", "/_apis/public/gallery/item4/redhat/java", {"origin": "https://workbench.example"})

_PROBE = """
import json, sys, time
import boto3
from aws_lambda_powertools import Logger, Metrics
boto3.client("dynamodb")
Logger(service="bench")
Metrics(namespace="bench")
mode, imports, application = sys.argv[1], sys.argv[2], sys.argv[3]
post, get = json.loads(sys.argv[4]), json.loads(sys.argv[5])
started = time.perf_counter()
scope = {}
exec(imports + application, scope)
answer = scope["app"].resolve(post, None)
elapsed = time.perf_counter() - started
assert answer["statusCode"] == 200, answer
if mode == "cold":
    print(elapsed * 1000)
    raise SystemExit(0)
app, clock = scope["app"], time.perf_counter_ns
for _ in range(200):  # warm-up
    app.resolve(post, None)
    app.resolve(get, None)
assert app.resolve(get, None)["statusCode"] == 200
posts, gets = [], []
for _ in range(int(sys.argv[6])):
    started = clock()
    app.resolve(post, None)
    posts.append(clock() - started)
    started = clock()
    app.resolve(get, None)
    gets.append(clock() - started)
posts.sort()
gets.sort()
print(posts[len(posts) // 2] / 1000, gets[len(gets) // 2] / 1000)
"""


@dataclass(frozen=True)
class Row:
    candidate: Candidate
    cold_ms: tuple[float, ...]
    post_us: float
    get_us: float

    @property
    def median_ms(self) -> float:
        return statistics.median(self.cold_ms)


def _environment(task_root: str) -> dict[str, str]:
    return lambda_shape.environment("gallery", task_root)


def _run(mode: str, candidate: Candidate, env: dict[str, str], requests: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode, candidate.imports, _APPLICATION, json.dumps(POST),
                          json.dumps(GET), str(requests)], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return [float(value) for value in out.stdout.strip().splitlines()[-1].split()]


def measure(rounds: int = 15, requests: int = REQUESTS) -> list[Row]:
    with tempfile.TemporaryDirectory() as task_root:
        env = _environment(task_root)
        cold: dict[str, list[float]] = {candidate.name: [] for candidate in CANDIDATES}
        for candidate in CANDIDATES:  # warm the file cache and bytecode once
            _run("cold", candidate, env, requests)
        for _ in range(rounds):
            for candidate in CANDIDATES:
                cold[candidate.name] += _run("cold", candidate, env, requests)
        warm = {candidate.name: _run("warm", candidate, env, requests) for candidate in CANDIDATES}
    return [Row(candidate, tuple(cold[candidate.name]), *warm[candidate.name]) for candidate in CANDIDATES]


def table(rows: list[Row], requests: int = REQUESTS) -> str:
    lines = [
        f"HTTP router: import + resolver with CORS and 23 rules + first request in a fresh interpreter, after what "
        f"every HTTP function imports (medians of {max((len(r.cold_ms) for r in rows), default=0)}); per request: "
        f"median of {requests:,} resolves",
        f"| {'candidate':<12} | {'import+first request ms':>23} | {'per-request µs (POST)':>21} | "
        f"{'per-request µs (GET)':>20} |",
        f"|{'-' * 14}|{'-' * 25}|{'-' * 23}|{'-' * 22}|",
    ]
    for row in rows:
        lines.append(f"| {row.candidate.name:<12} | {row.median_ms:>23.1f} | {row.post_us:>21.1f} | "
                     f"{row.get_us:>20.1f} |")
    return "\n".join(lines)
