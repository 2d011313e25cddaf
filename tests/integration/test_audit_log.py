"""The audit log through the real paths: a publish through the ingest, a deprecation and a token revocation
through the publishing API, read back by the namespace's owner with ``GET /api/publish/audit/{namespace}``."""

from __future__ import annotations

import json

from marketplace.publishing import audit, service
from tests import vsix_factory
from tests.integration.publishing_api import call
from tests.integration.test_ingest import Publisher, _status


def test_an_owner_reads_who_published_deprecated_and_revoked_what(deployment):
    publisher = Publisher(deployment)  # somepub, owned by owner-of-somepub, created by the operator CLI's code
    with audit.acting(audit.Actor("owner-of-somepub", "marketplace-cli/0.1.0")):
        upload_id, _ = publisher.upload(vsix_factory.vsix_bytes(publisher="somepub", name="hello"))
    assert _status(upload_id).status == "published"
    status, _ = call("POST", "/api/publish/extensions/somepub/hello/deprecate", publisher.token,
                     {"message": "no longer kept up"}, agent="ovsx/1.1.1 node/20")
    assert status in (200, 204)
    with audit.acting(audit.Actor(audit.OPERATOR, "marketplace CLI")):
        helper = service.create_token("owner-of-somepub", ["somepub"], description="CI")
        service.revoke_token(service.authenticate(helper).token_id)

    status, log = call("GET", "/api/publish/audit/somepub", publisher.token)
    assert status == 200, log
    helper_id = helper.split("_")[1]
    entries = [(e["actor"], e["client"], e["action"], e["target"]) for e in reversed(log["entries"])]
    assert entries[-4:] == [
        ("owner-of-somepub", "marketplace-cli/0.1.0", "extension.publish", "somepub.hello"),
        ("owner-of-somepub", "ovsx/1.1.1", "extension.deprecate", "somepub.hello"),
        ("operator", "marketplace CLI", "token.create", helper_id),
        ("operator", "marketplace CLI", "token.revoke", helper_id),
    ]
    published = next(e for e in log["entries"] if e["action"] == "extension.publish")
    assert published["details"]["version"] == "1.0.0" and published["details"]["upload"] == upload_id
    assert publisher.token not in json.dumps(log) and helper not in json.dumps(log)


def test_the_log_is_the_owners_alone(deployment):
    publisher = Publisher(deployment)
    service.add_member("somepub", "bob", "contributor")
    contributor = service.create_token("bob", ["somepub"])
    status, answer = call("GET", "/api/publish/audit/somepub", contributor)
    assert status == 403 and "only an owner" in answer["message"]
    _, other = service.create_publisher("elsewhere", "carol")
    assert call("GET", "/api/publish/audit/somepub", other)[0] == 403
    assert call("GET", "/api/publish/audit/somepub", publisher.token, query="limit=x")[0] == 400
    status, answer = call("GET", "/api/publish/audit/somepub", publisher.token, query="limit=1")
    assert status == 200 and len(answer["entries"]) == 1
