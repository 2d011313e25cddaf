"""Unpublish and deprecate: owners only, the summary follows what remains, version numbers stay taken."""

from __future__ import annotations

import pytest

from marketplace.catalog import store as catalog
from marketplace.platform.errors import BadRequest, Forbidden, NotFound
from marketplace.publishing import lifecycle, service
from tests import vsix_factory
from tests.integration.test_ingest import Publisher, _status


@pytest.fixture
def published(deployment):
    publisher = Publisher(deployment)
    for version in ("1.0.0", "1.1.0"):
        publisher.upload(vsix_factory.vsix_bytes(version=version))
    publisher.upload(vsix_factory.vsix_bytes(version="1.1.0", target_platform="linux-x64"))
    publisher.upload(vsix_factory.vsix_bytes(version="2.0.0-rc.1", pre_release=True))
    return publisher


def _owner(publisher: Publisher) -> service.Principal:
    return service.authenticate(publisher.token)


def test_unpublishing_a_version_moves_the_summary_back(published):
    withdrawn = lifecycle.unpublish(_owner(published), "somepub", "hello", "1.1.0")
    assert sorted(withdrawn) == ["1.1.0@linux-x64", "1.1.0@universal"]
    extension = catalog.get_extension("somepub.hello")
    assert extension is not None
    assert (extension.latest_version, extension.latest_prerelease, extension.unpublished) == (
        "1.0.0", "2.0.0-rc.1", False)
    with pytest.raises(NotFound):
        lifecycle.unpublish(_owner(published), "somepub", "hello", "1.1.0")


def test_a_withdrawn_version_number_cannot_return(published):
    lifecycle.unpublish(_owner(published), "somepub", "hello", "1.0.0")
    upload_id, _ = published.upload(vsix_factory.vsix_bytes(version="1.0.0"))
    assert _status(upload_id).reason == "Extension somepub.hello-1.0.0 is already published."


def test_unpublishing_everything_and_one_target(published):
    assert lifecycle.unpublish(_owner(published), "somepub", "hello", "1.1.0", "linux-x64") == ["1.1.0@linux-x64"]
    assert catalog.get_version("somepub.hello", "1.1.0", "universal").unpublished_at is None  # type: ignore[union-attr]
    lifecycle.unpublish(_owner(published), "somepub", "hello")
    extension = catalog.get_extension("somepub.hello")
    assert extension is not None and extension.unpublished and extension.latest_version is None
    assert all(v.unpublished_at is not None for v in catalog.versions("somepub.hello"))
    with pytest.raises(BadRequest, match="name the version"):
        lifecycle.unpublish(_owner(published), "somepub", "hello", None, "linux-x64")


def test_deprecation_with_a_replacement(published, deployment):
    other = Publisher(deployment, "newpub")
    other.upload(vsix_factory.vsix_bytes(publisher="newpub", name="better"))
    lifecycle.deprecate(_owner(published), "somepub", "hello", "newpub.better", "use newpub.better instead")
    extension = catalog.get_extension("somepub.hello")
    assert extension is not None
    assert (extension.deprecated, extension.replacement, extension.deprecation_message) == (
        True, "newpub.better", "use newpub.better instead")
    lifecycle.undeprecate(_owner(published), "somepub", "hello")
    extension = catalog.get_extension("somepub.hello")
    assert extension is not None and not extension.deprecated and extension.replacement is None
    for replacement, message in (("somepub.hello", "self"), ("nobody.nothing", "not in this marketplace"),
                                 ("not an id", "extension id")):
        with pytest.raises(BadRequest, match=message):
            lifecycle.deprecate(_owner(published), "somepub", "hello", replacement)
    with pytest.raises(BadRequest, match="control"):
        lifecycle.deprecate(_owner(published), "somepub", "hello", None, "see \u202eelsewhere")


def test_only_owners_may_do_it(published):
    service.add_member("somepub", "carol", "contributor")
    contributor = service.authenticate(service.create_token("carol", ["somepub"]))
    with pytest.raises(Forbidden, match="only an owner"):
        lifecycle.unpublish(contributor, "somepub", "hello")
    with pytest.raises(Forbidden, match="only an owner"):
        lifecycle.deprecate(contributor, "somepub", "hello")
    stranger = service.authenticate(service.create_publisher("stranger", "dave")[1])
    with pytest.raises(Forbidden, match="may not publish to namespace 'somepub'"):
        lifecycle.unpublish(stranger, "somepub", "hello")
    assert catalog.get_extension("somepub.hello").latest_version == "1.1.0"  # type: ignore[union-attr]
