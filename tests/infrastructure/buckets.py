"""The assertions every hardened bucket passes (``stacks.buckets.hardened_bucket``), shared by the storage and
lake tests."""

from __future__ import annotations

from typing import Any


def assert_private(props: dict[str, Any]) -> None:
    """Public access blocked in all four ways; ACLs disabled (the bucket owner owns every object)."""
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def assert_tls_only(statements: list[dict[str, Any]]) -> None:
    """The bucket policy denies plain HTTP and TLS older than 1.2."""
    conditions = [s["Condition"] for s in statements if s["Effect"] == "Deny"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions
