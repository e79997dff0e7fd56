// The Connect page. Opened from a connect link it reads its session token from the link;
// embedded by @nangohq/frontend's openConnectUI it says "ready" to the app, which answers
// with a "session_token" message. It reports to the app as Nango's Connect UI does:
// "connect" (payload: providerConfigKey, connectionId), "error" (payload: errorType,
// errorMessage) and "close". The OAuth2 popup (same origin) reports back with
// "nango_oauth_callback_success" or "nango_oauth_callback_error".
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var embedded = window.parent !== window;
  var token = "", session = null, current = null, popup = null, watcher = null;
  var MODES = { OAUTH2: "Sign in", API_KEY: "API key", BEARER: "Token", BASIC: "Username and password" };

  function tell(type, payload) {
    if (!embedded) { return; }
    // The app's origin is not known here; nothing secret is ever sent.
    window.parent.postMessage(payload === undefined ? { type: type } : { type: type, payload: payload }, "*");
  }
  function show(id) {
    ["pick", "one", "done"].forEach(function (name) { $(name).hidden = name !== id; });
  }
  function status(text) { $("status").textContent = text || ""; }
  function clearError() { $("error").hidden = true; $("error").textContent = ""; }
  function fail(type, message) {
    status("");
    $("error").textContent = message;
    $("error").hidden = false;
    tell("error", { errorType: type, errorMessage: message });
  }
  function busy(on) {
    document.querySelectorAll("button.primary").forEach(function (b) { b.disabled = on; });
  }
  function label(name) {
    var words = name.replace(/([a-z])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }
  function close() {
    if (embedded) { tell("close"); return; }
    window.close();
    status("You can close this window now.");
  }

  function tokenFromUrl() {
    var hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    var query = new URLSearchParams(location.search);
    var found = hash.get("session_token") || query.get("session_token") || "";
    if (found) {
      // Out of the address bar, the history and any bookmark.
      query.delete("session_token");
      var rest = query.toString();
      history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
    }
    return found;
  }

  function start(value) {
    token = value;
    clearError();
    status("Loading…");
    fetch("/connect/session", {
      headers: { Authorization: "Bearer " + token }, credentials: "omit", cache: "no-store"
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (r) {
      if (!r.ok) {
        var error = (r.body && r.body.error) || {};
        fail(error.code || "unknown_error", "This link is no longer valid. Ask the app for a new one.");
        return;
      }
      session = r.body.data;
      list();
    }).catch(function () {
      fail("network_error", "The server could not be reached. Check your connection and try again.");
    });
  }

  function list() {
    var items = session.integrations || [];
    status("");
    $("title").textContent = session.isReconnecting ? "Reconnect an account" : "Connect an account";
    if (!items.length) { fail("no_integrations", "There is nothing to connect here."); return; }
    if (items.length === 1) { open(items[0], false); return; }
    var ul = $("integrations");
    ul.textContent = "";
    items.forEach(function (item) {
      var node = $("integration-item").content.cloneNode(true);
      node.querySelector(".name").textContent = item.display_name;
      node.querySelector(".mode").textContent = MODES[item.auth_mode] || "";
      node.querySelector("button").addEventListener("click", function () { open(item, true); });
      ul.appendChild(node);
    });
    show("pick");
    $("title").focus();
  }

  function open(item, canGoBack) {
    current = item;
    clearError();
    status("");
    $("back").hidden = !canGoBack;
    $("one-title").textContent = (session.isReconnecting ? "Reconnect " : "Connect ") + item.display_name;
    document.querySelectorAll(".provider-name").forEach(function (n) { n.textContent = item.display_name; });
    ["oauth-form", "key-form", "basic-form"].forEach(function (id) { $(id).hidden = true; });
    var form;
    if (item.auth_mode === "OAUTH2") {
      form = $("oauth-form");
      var fields = $("oauth-fields");
      fields.textContent = "";
      item.connection_config.forEach(function (name, i) {
        var node = $("config-field").content.cloneNode(true);
        var input = node.querySelector("input");
        input.id = "config-" + i;
        input.name = name;
        node.querySelector("label").htmlFor = input.id;
        node.querySelector("label").textContent = label(name);
        fields.appendChild(node);
      });
    } else if (item.auth_mode === "BASIC") {
      form = $("basic-form");
    } else {
      form = $("key-form");
      document.querySelector("label[for=api-key]").textContent = item.auth_mode === "BEARER" ? "Token" : "API key";
    }
    form.reset();
    form.hidden = false;
    show("one");
    (form.querySelector("input") || form.querySelector("button")).focus();
  }

  function connected(key, id) {
    tell("connect", { providerConfigKey: key, connectionId: id });
    status("");
    $("title").textContent = "All set";
    $("done-text").textContent = current.display_name + " is connected.";
    show("done");
    $("finish").focus();
  }

  function stopWatching() {
    clearInterval(watcher);
    watcher = null;
    popup = null;
    busy(false);
  }

  function fromPopup(data) {
    if (data.type !== "nango_oauth_callback_success" && data.type !== "nango_oauth_callback_error") { return; }
    var source = popup;
    stopWatching();
    try { source.postMessage({ type: "nango_oauth_callback_ack" }, location.origin); } catch (e) { /* gone */ }
    var payload = data.payload || {};
    if (data.type === "nango_oauth_callback_success") {
      connected(payload.providerConfigKey, payload.connectionId);
    } else {
      fail(payload.errorType || "callback_err", payload.message || "The connection failed.");
    }
  }

  function authRoute(path, body) {
    clearError();
    busy(true);
    status("Connecting…");
    var url = path + encodeURIComponent(current.unique_key) + "?" +
      new URLSearchParams({ connect_session_token: token }).toString();
    fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      credentials: "omit", cache: "no-store"
    }).then(function (r) {
      return r.json().then(function (answer) { return { ok: r.ok, answer: answer }; });
    }).then(function (r) {
      busy(false);
      if (r.ok) { connected(r.answer.providerConfigKey, r.answer.connectionId); return; }
      var error = (r.answer && r.answer.error) || {};
      fail(error.code || "unknown_error", error.message || "The connection failed.");
    }).catch(function () {
      busy(false);
      fail("network_error", "The server could not be reached. Check your connection and try again.");
    });
  }

  $("oauth-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearError();
    var query = new URLSearchParams({ connect_session_token: token });
    $("oauth-fields").querySelectorAll("input").forEach(function (input) {
      query.append("params[" + input.name + "]", input.value.trim());
    });
    var width = 500, height = 680;
    var left = window.screenX + Math.max(0, (window.outerWidth - width) / 2);
    var top = window.screenY + Math.max(0, (window.outerHeight - height) / 2);
    // Opened in the click itself, or browsers block it.
    popup = window.open("/oauth/connect/" + encodeURIComponent(current.unique_key) + "?" + query.toString(),
      "nango-oauth", "width=" + width + ",height=" + height + ",left=" + left + ",top=" + top);
    if (!popup) {
      fail("blocked_by_browser", "Your browser blocked the sign-in window. Allow pop-ups for this page and try again.");
      return;
    }
    busy(true);
    status("Finish signing in in the window that opened…");
    clearInterval(watcher);
    watcher = setInterval(function () {
      if (popup && popup.closed) {
        stopWatching();
        fail("window_closed", "The sign-in window was closed before the connection was made.");
      }
    }, 500);
  });
  $("key-form").addEventListener("submit", function (event) {
    event.preventDefault();
    authRoute("/api-auth/api-key/", { apiKey: $("api-key").value });
  });
  $("basic-form").addEventListener("submit", function (event) {
    event.preventDefault();
    authRoute("/api-auth/basic/", { username: $("username").value, password: $("password").value });
  });
  $("back").addEventListener("click", function () { clearError(); show("pick"); $("title").focus(); });
  $("close").addEventListener("click", close);
  $("finish").addEventListener("click", close);
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") { close(); } });

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || typeof data !== "object") { return; }
    if (popup && event.source === popup && event.origin === location.origin) { fromPopup(data); return; }
    if (embedded && event.source === window.parent && data.type === "session_token" &&
        typeof data.sessionToken === "string" && data.sessionToken !== token) {
      start(data.sessionToken);
    }
  });

  if (!embedded) { document.body.classList.add("standalone"); }
  var given = tokenFromUrl();
  if (given) { start(given); }
  if (embedded) {
    tell("ready");
  } else if (!given) {
    fail("missing_session_token", "Open this page from the link the app gave you.");
  }
})();
