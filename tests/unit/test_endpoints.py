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
