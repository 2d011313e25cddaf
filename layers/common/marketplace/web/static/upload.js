// Browser upload of a .vsix: register the upload (name, size, SHA-256), send the file straight to storage with the
// presigned POST the server answers with (showing progress), then follow the validation until it is published or
// rejected. Every message goes into the page with textContent.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var input = form.querySelector("input[type=file][name=package]");
  var button = form.querySelector("button[type=submit], button:not([type]), input[type=submit]");
  var progress = document.getElementById("upload-progress");
  var state = document.getElementById("upload-state");
  var verdict = document.getElementById("upload-verdict");
  var POLL_MS = 1000;
  var POLL_LIMIT_MS = 5 * 60 * 1000;
  var STORAGE_OK = [200, 201, 204];
  var warning = null;
  var busy = false;

  function say(text) { if (state) { state.textContent = text; } }
  function showProgress(percent) {
    if (!progress) { return; }
    progress.hidden = false;
    progress.value = percent;
  }
  function clear() {
    if (verdict) { verdict.className = ""; verdict.replaceChildren(); }
    if (warning) { warning.remove(); warning = null; }
    if (progress) { progress.value = 0; progress.hidden = true; }
    say("");
  }
  function finish() {
    busy = false;
    if (button) { button.disabled = false; }
    if (input) { input.disabled = false; }
  }
  // The status line says briefly how it ended (screen readers announce it); the verdict below has the details.
  function show(kind, nodes, announcement) {
    if (verdict) {
      verdict.className = "verdict verdict-" + kind;
      verdict.replaceChildren.apply(verdict, nodes);
    }
    say(announcement);
    finish();
  }
  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (className) { node.className = className; }
    return node;
  }
  function fail(message) { show("rejected", [text("p", message)], "The upload failed; the reason is below."); }
  function showWarning(message) {
    warning = text("p", message, "notice warning");
    if (verdict && verdict.parentNode) { verdict.parentNode.insertBefore(warning, verdict); } else { form.appendChild(warning); }
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (byte) {
      return (byte < 16 ? "0" : "") + byte.toString(16);
    }).join("");
  }
  function json(response) {
    return response.json().catch(function () { return {}; });
  }
  function problem(body, fallback) {
    return body && typeof body.message === "string" && body.message ? body.message : fallback;
  }

  function register(file, sha256) {
    return fetch(form.getAttribute("data-create-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRF-Token": form.getAttribute("data-csrf") || "" },
      body: JSON.stringify({ fileName: file.name, size: file.size, sha256: sha256 })
    }).then(function (response) {
      return json(response).then(function (body) {
        if (!response.ok) { throw new Error(problem(body, "The upload could not be started (HTTP " + response.status + ").")); }
        if (!body || typeof body.id !== "string" || !body.upload || typeof body.upload.url !== "string") {
          throw new Error("The server's answer did not say where to upload the package.");
        }
        return body;
      });
    });
  }

  function send(file, upload) {
    return new Promise(function (resolve, reject) {
      var body = new FormData();
      var fields = upload.fields || {};
      Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
      body.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open(upload.method || "POST", upload.url);
      xhr.upload.onprogress = function (event) {
        if (!event.lengthComputable || !event.total) { return; }
        var percent = Math.min(100, Math.floor(event.loaded * 100 / event.total));
        showProgress(percent);
        say("Uploading… " + percent + " %");
      };
      xhr.onload = function () {
        if (STORAGE_OK.indexOf(xhr.status) >= 0) {
          showProgress(100);
          resolve();
        } else {
          reject(new Error("The upload to storage failed (HTTP " + xhr.status + ")"));
        }
      };
      xhr.onerror = function () { reject(new Error("The upload to storage failed (network error)")); };
      xhr.onabort = function () { reject(new Error("The upload to storage was cancelled.")); };
      showProgress(0);
      say("Uploading… 0 %");
      xhr.send(body);
    });
  }

  function follow(id) {
    var url = form.getAttribute("data-status-url") + encodeURIComponent(id);
    var deadline = Date.now() + POLL_LIMIT_MS;
    say("Validating the package…");
    return new Promise(function (resolve, reject) {
      function later() {
        if (Date.now() >= deadline) {
          reject(new Error("Validation is taking longer than expected; the package's status will show on the " +
                           "namespace's page when it is done."));
          return;
        }
        window.setTimeout(poll, POLL_MS);
      }
      function poll() {
        fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
          .then(function (response) {
            return json(response).then(function (body) {
              if (response.status >= 500) { later(); return; }  // a passing outage: ask again
              if (!response.ok) {
                reject(new Error(problem(body, "The upload's status could not be read (HTTP " + response.status + ").")));
                return;
              }
              if (body.status === "pending" || body.status === "validating") { later(); return; }
              resolve(body);
            });
          }, later);  // a network error: ask again until the deadline
      }
      poll();
    });
  }

  function published(body) {
    var extension = body.extension || {};
    var id = String(extension.id || "");
    var headline = "Published " + id + " " + String(extension.version || "");
    var line = text("p", headline + " — ");
    var link = text("a", "see its page");
    link.href = "/items?itemName=" + encodeURIComponent(id);
    line.appendChild(link);
    show("published", [line].concat(findings(body)), "Published.");
  }
  // What the publish-time scan noted without refusing the package (shown word for word, as the CLI shows them).
  function findings(body) {
    var warnings = Array.isArray(body.warnings) ? body.warnings : [];
    if (!warnings.length) { return []; }
    var list = document.createElement("ul");
    warnings.forEach(function (warning) { list.appendChild(text("li", String(warning))); });
    return [text("p", "The scan noted:", "verdict-heading"), list];
  }
  function quarantined(body) {
    var reason = typeof body.reason === "string" ? body.reason : "";
    var extension = body.extension || {};
    var where = "/manage/extensions/" + String(extension.id || "").split(".").map(encodeURIComponent).join("/");
    var line = text("p", "Editors will not see this version until an owner confirms it on ");
    var link = text("a", "the extension's statistics page");
    link.href = where;
    line.appendChild(link);
    show("quarantined", [text("h2", "Held for review", "verdict-heading"), text("p", reason, "verdict-reason"), line],
         "Held for review; the reason is below.");
  }
  function rejected(body) {
    var reason = typeof body.reason === "string" ? body.reason : "";
    show("rejected", [text("h2", "Rejected", "verdict-heading"), text("p", reason, "verdict-reason")],
         "Rejected; the reason is below.");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) { return; }
    var file = input && input.files && input.files[0];
    clear();
    if (!file) { fail("Choose a .vsix file to upload."); return; }
    if (!window.crypto || !window.crypto.subtle || !window.fetch || !window.FormData) {
      fail("This browser cannot upload here (it needs a secure connection and a current browser); use the CLI.");
      return;
    }
    busy = true;
    if (button) { button.disabled = true; }
    if (input) { input.disabled = true; }
    say("Reading the file…");
    file.arrayBuffer()
      .then(function (buffer) { return window.crypto.subtle.digest("SHA-256", buffer); })
      .then(function (digest) { return register(file, hex(digest)); })
      .then(function (created) {
        if (typeof created.warning === "string" && created.warning) { showWarning(created.warning); }
        return send(file, created.upload).then(function () { return follow(created.id); });
      })
      .then(function (status) {
        if (status.status === "published") { published(status); }
        else if (status.status === "rejected") { rejected(status); }
        else if (status.status === "quarantined") { quarantined(status); }
        else { fail("The upload ended in an unexpected state (" + String(status.status) + ")."); }
      })
      .catch(function (error) {
        fail(error && error.message ? error.message : "The upload failed.");
      });
  });
})();
