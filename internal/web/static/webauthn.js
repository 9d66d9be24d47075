// Security keys and passkeys. Forms marked data-webauthn ask their
// data-options endpoint (same origin, CSRF token, cookies) for WebAuthn
// options, let the browser talk to the authenticator, put its answer into
// the hidden "credential" field and submit the form:
//   data-webauthn="get"      second factor at sign-in or step-up
//   data-webauthn="create"   register a security key or passkey
//   data-webauthn="passkey"  sign in with a passkey, no password
"use strict";

(function () {
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64url(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: b64urlToBuf(c.id) });
    });
  }

  function creationOptions(pk) {
    const o = Object.assign({}, pk);
    o.challenge = b64urlToBuf(pk.challenge);
    o.user = Object.assign({}, pk.user, { id: b64urlToBuf(pk.user.id) });
    o.excludeCredentials = descriptors(pk.excludeCredentials);
    return o;
  }

  function requestOptions(pk) {
    const o = Object.assign({}, pk);
    o.challenge = b64urlToBuf(pk.challenge);
    if (pk.allowCredentials) o.allowCredentials = descriptors(pk.allowCredentials);
    return o;
  }

  // credentialJSON is the PublicKeyCredential as the server reads it
  // (WebAuthn Level 3 toJSON), built by hand for browsers without toJSON.
  function credentialJSON(cred) {
    const r = cred.response;
    const out = {
      id: cred.id,
      rawId: bufToB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: bufToB64url(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = bufToB64url(r.authenticatorData);
      out.response.signature = bufToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64url(r.userHandle);
    }
    return JSON.stringify(out);
  }

  function showError(form, message) {
    const el = form.querySelector("[data-webauthn-error]");
    if (el) {
      el.textContent = message;
      el.hidden = false;
    }
  }

  function hideError(form) {
    const el = form.querySelector("[data-webauthn-error]");
    if (el) el.hidden = true;
  }

  // fetchOptions posts the form's CSRF token (and, when registering, the
  // name and passkey choice) to the options endpoint.
  async function fetchOptions(form, kind) {
    const body = new URLSearchParams();
    body.set("csrf_token", form.elements.csrf_token.value);
    if (kind === "create") {
      body.set("name", form.elements.name.value);
      if (form.elements.passkey && form.elements.passkey.checked) body.set("passkey", "1");
    }
    const resp = await fetch(form.dataset.options, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
    if (!resp.ok) {
      const msg = data && data.error && data.error.message;
      throw new Error(msg || "Coffer could not start the request (" + resp.status + "). Reload the page and try again.");
    }
    return data;
  }

  function browserError(err, kind) {
    switch (err && err.name) {
      case "NotAllowedError":
        return "The request was cancelled or timed out. Try again, and confirm on your security key or device when it asks.";
      case "InvalidStateError":
        return kind === "create"
          ? "This security key is already registered to your account."
          : "This security key is not registered to your account. Use another one or another method.";
      case "NotSupportedError":
      case "SecurityError":
        return "This browser or device cannot use security keys or passkeys here. Use another method.";
    }
    return (err && err.message) || "Something went wrong with the security key. Try again.";
  }

  async function run(form, kind, button) {
    hideError(form);
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showError(form, "This browser cannot use security keys or passkeys. Use another method or another browser.");
      return;
    }
    if (kind === "create" && !form.reportValidity()) return;
    button.disabled = true;
    try {
      const data = await fetchOptions(form, kind);
      const pk = data.options.publicKey;
      let cred;
      if (kind === "create") {
        cred = await navigator.credentials.create({ publicKey: creationOptions(pk) });
      } else {
        cred = await navigator.credentials.get({ publicKey: requestOptions(pk) });
      }
      if (!cred) throw new Error("No security key answered. Try again.");
      form.elements.credential.value = credentialJSON(cred);
      if (kind === "passkey") form.elements.challenge_token.value = data.challenge_token;
      form.submit();
    } catch (err) {
      showError(form, browserError(err, kind));
      button.disabled = false;
    }
  }

  function init() {
    document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
      if (form.dataset.webauthnReady) return;
      form.dataset.webauthnReady = "1";
      const kind = form.dataset.webauthn;
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        const button = ev.submitter || form.querySelector("button[type=submit]");
        run(form, kind, button);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
