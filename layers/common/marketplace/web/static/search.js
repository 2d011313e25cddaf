// Search as you type on the search page: the form still works without this script (it is a plain GET form).
// The results come from the same server-rendered page, so ranking and markup stay in one place.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live-search]");
  var results = document.getElementById("results");
  if (!form || !results || !window.fetch || !window.DOMParser) { return; }
  var timer = null;
  var latest = 0;
  function update() {
    var params = new URLSearchParams(new FormData(form));
    Array.from(params.keys()).forEach(function (key) { if (!params.get(key)) { params.delete(key); } });
    if (params.get("sort") === "relevance") { params.delete("sort"); }
    var query = params.toString();
    var url = form.getAttribute("action") + (query ? "?" + query : "");
    var ticket = ++latest;
    fetch(url, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (ticket !== latest) { return; }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("results");
        if (fresh) {
          results.replaceChildren.apply(results, Array.prototype.slice.call(document.importNode(fresh, true).childNodes));
          history.replaceState(null, "", url);
        }
      })
      .catch(function () { /* the form's own submit still works */ });
  }
  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 200);
  });
})();
