"""The shared resource and function definitions are consistent in themselves."""

import importlib
import re
import sys
from pathlib import Path

from marketplace.platform import resources as r
from marketplace.platform.functions import FUNCTIONS, ObjectGrant, SqsSource, StreamSource, TableGrant

ROOT = Path(__file__).resolve().parents[2]


def test_every_function_has_its_handler_module():
    for fn in FUNCTIONS:
        handler = ROOT / fn.code_dir / "handler.py"
        assert handler.is_file(), handler
        module = importlib.import_module(fn.module)
        assert callable(getattr(module, fn.handler.split(".")[-1]))
        # the deployed code root is functions/<name>/: only the layer's packages may be imported from there
        imports = {line.split()[1].split(".")[0] for line in handler.read_text().splitlines()
                   if line.startswith(("import ", "from "))}
        assert imports <= {"marketplace", "aws_lambda_powertools", *sys.stdlib_module_names}, imports


def test_every_reference_names_a_defined_resource():
    for fn in FUNCTIONS:
        fn.environment_variables()  # raises KeyError for an unknown resource
        if isinstance(fn.source, SqsSource):
            r.queue(fn.source.queue)
        if isinstance(fn.source, StreamSource):
            r.queue(fn.source.on_failure)
            (r.stream if fn.source.kind == "kinesis" else r.table)(fn.source.source)
        for grant in fn.grants:
            if isinstance(grant, ObjectGrant):
                bucket = r.bucket(grant.bucket)
                assert grant.prefix.startswith((bucket.upload_prefix, bucket.public_prefix, bucket.private_prefix))


def test_stream_consumers_read_tables_that_have_streams():
    for fn in FUNCTIONS:
        if isinstance(fn.source, StreamSource) and fn.source.kind == "dynamodb":
            assert r.table(fn.source.source).stream is not None


def test_names_are_unique_and_valid():
    for group in (r.TABLES, r.QUEUES, r.STREAMS, r.KEYS, r.BUCKETS, FUNCTIONS):
        names = [getattr(item, "id", getattr(item, "name", None)) for item in group]
        assert len(names) == len(set(names))
    env_vars = [t.env_var for t in r.TABLES] + [q.env_var for q in r.QUEUES] + [s.env_var for s in r.STREAMS]
    assert len(env_vars) == len(set(env_vars))
    for table in r.TABLES:
        assert re.fullmatch(r"[a-zA-Z0-9_.-]{3,255}", table.physical_name("prod"))
    for queue in r.QUEUES:
        assert len(queue.physical_name("prod")) <= 80
        if queue.dead_letter:
            assert r.queue(queue.dead_letter).retention_days >= queue.retention_days


def test_sqs_visibility_timeout_covers_the_consumer():
    for fn in FUNCTIONS:
        if isinstance(fn.source, SqsSource):
            assert r.queue(fn.source.queue).visibility_timeout_seconds >= 6 * fn.timeout_seconds


def test_least_privilege_on_the_upload_prefix():
    """Only the publish API and the scheduled mirror may put uploads and only the ingest function may read or
    delete them."""
    upload = r.PACKAGES_BUCKET.upload_prefix
    writers = {fn.name for fn in FUNCTIONS for g in fn.grants
               if isinstance(g, ObjectGrant) and g.prefix == upload and "s3:PutObject" in g.actions}
    readers = {fn.name for fn in FUNCTIONS for g in fn.grants
               if isinstance(g, ObjectGrant) and g.prefix == upload and "s3:GetObject" in g.actions}
    assert writers == {"publish_api", "mirror"} and readers == {"ingest"}
    public = r.PACKAGES_BUCKET.public_prefix
    public_writers = {fn.name for fn in FUNCTIONS for g in fn.grants if isinstance(g, ObjectGrant)
                      and g.prefix == public and set(g.actions) & {"s3:PutObject", "s3:DeleteObject"}}
    public_readers = {fn.name for fn in FUNCTIONS for g in fn.grants if isinstance(g, ObjectGrant)
                      and g.prefix == public and g.actions == ("s3:GetObject",)}
    # the API's asset fallback, and the website's READMEs
    assert public_writers == {"ingest"} and public_readers == {"gallery", "web"}
    assert all(isinstance(g, TableGrant) for fn in FUNCTIONS for g in fn.grants if getattr(g, "table", None))


def test_every_encrypted_resource_names_a_defined_key():
    keys = [t.key for t in r.TABLES] + [q.key for q in r.QUEUES]
    keys += [s.key for s in r.STREAMS] + [b.key for b in r.BUCKETS]
    for key_id in keys:
        r.key(key_id)
    assert r.SYNC_KEY.id not in keys  # the sync key wraps per-user data keys and nothing else
