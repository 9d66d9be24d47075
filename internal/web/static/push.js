// Coffer Verify: while the sign-in (or step-up) page shows the number to
// pick, ask the server whether the device has answered. Each request
// waits up to 25 s on the server; on approval the server has set the
// session and says where to go next.
(function () {
  "use strict";
  var form = document.querySelector("form[data-push-wait]");
  if (!form) {
    return;
  }
  var status = document.getElementById("push-status");
  var again = form.parentNode.querySelector("form[action$='/push']");
  var stopped = false;

  function stop(message) {
    stopped = true;
    if (status) {
      status.textContent = message;
      status.classList.add("error");
    }
    form.hidden = true;
    if (again) {
      again.hidden = false;
    }
  }

  function poll() {
    if (stopped) {
      return;
    }
    var body = new URLSearchParams(new FormData(form));
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Coffer-Poll": "1", "Accept": "application/json" },
      body: body
    }).then(function (resp) {
      return resp.json().then(function (data) {
        return { status: resp.status, data: data };
      });
    }).then(function (res) {
      if (res.status === 202) {
        poll();
      } else if (res.status === 200 && res.data.next) {
        window.location.assign(res.data.next);
      } else {
        var msg = res.data && res.data.error ? res.data.error.message : "The request was not approved.";
        stop(msg);
      }
    }).catch(function () {
      // A dropped connection: try again shortly.
      window.setTimeout(poll, 2000);
    });
  }

  poll();
})();
