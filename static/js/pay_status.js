/*
 * The return page's live status (templates/payments/pay/done.html). Every 2 s it asks
 * /pay/<uuid>/status/ ({status, label, final}) and reloads the page once the status changes or
 * becomes final, so the server renders the outcome. It stops asking after 10 minutes (the
 * "Refresh" link stays). Without JavaScript the page refreshes itself instead.
 */
(function () {
  "use strict";

  var INTERVAL_MS = 2000;
  var MAX_POLLS = 300;

  var box = document.querySelector("[data-pay-status]");
  if (!box || box.dataset.final === "true" || !window.fetch) {
    return;
  }
  var label = box.querySelector("[data-status-label]");
  var polls = 0;

  function poll() {
    polls += 1;
    fetch(box.dataset.statusUrl, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data && (data.final || data.status !== box.dataset.status)) {
          window.location.reload();
          return;
        }
        if (data && label) {
          label.textContent = data.label;
        }
        if (polls < MAX_POLLS) {
          window.setTimeout(poll, INTERVAL_MS);
        }
      })
      .catch(function () {
        // A network hiccup: try again later.
        if (polls < MAX_POLLS) {
          window.setTimeout(poll, INTERVAL_MS);
        }
      });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
