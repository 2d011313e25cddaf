import pytest

from marketplace.catalog.semver import Version, is_valid


def test_precedence_follows_semver_2():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
               "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"]
    assert sorted(ordered, key=Version) == ordered
    assert Version("1.0.0+build.1") == Version("1.0.0+other")


@pytest.mark.parametrize("text", ["1", "1.0", "01.0.0", "1.0.0-", "1.0.0-01", "v1.0.0", "latest", "1.0.0.0",
                                  "1.0.0+", "1." + "0" * 70 + ".0"])
def test_invalid_versions(text):
    assert not is_valid(text)
    with pytest.raises(ValueError, match="SemVer"):
        Version(text)
