from marketplace.platform.endpoints import product_json


def test_product_json_fragment():
    fragment = product_json("https://d111.cloudfront.net/")
    gallery = fragment["extensionsGallery"]
    assert gallery["serviceUrl"] == "https://d111.cloudfront.net/_apis/public/gallery"
    assert "{publisher}" in gallery["extensionUrlTemplate"] and "{name}" in gallery["extensionUrlTemplate"]
    assert {"{publisher}", "{name}", "{version}", "{path}"} <= {
        part for part in gallery["resourceUrlTemplate"].split("/") if part.startswith("{")}
    store = fragment["configurationSync.store"]
    assert store["url"] == store["stableUrl"] == store["insidersUrl"] == "https://d111.cloudfront.net/sync"
    assert all(isinstance(p["scopes"], list) for p in store["authenticationProviders"].values())
    edit_sessions = fragment["editSessions.store"]
    assert edit_sessions["url"] == store["url"]
    assert edit_sessions["authenticationProviders"] == store["authenticationProviders"]


def test_public_base_url_prefers_the_viewer_host(monkeypatch):
    from marketplace.platform.http import public_base_url

    monkeypatch.setenv("MARKETPLACE_ORIGIN_SECRET", "s")
    verified = {"x-origin-verify": "s"}
    assert public_base_url({**verified, "x-forwarded-host": "d111.cloudfront.net", "host": "abc.execute-api"}) == (
        "https://d111.cloudfront.net")
    assert public_base_url({"Host": "127.0.0.1:8080"}) == "http://127.0.0.1:8080"
    assert public_base_url({**verified, "host": "x.example", "x-forwarded-proto": "http"}) == "http://x.example"
    # without the origin secret, forwarded headers are the caller's own words and are not believed
    assert public_base_url({"x-forwarded-host": "evil.example", "host": "abc.execute-api"}) == (
        "https://abc.execute-api")
