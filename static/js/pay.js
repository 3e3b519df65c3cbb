/*
 * The pay pages' one script (templates/payments/pay/). No inline script anywhere: the pages'
 * Content-Security-Policy allows only our own files and, on the payment page, Stripe's.
 *
 * 1. "Pay bills" ([data-pay-selection]): keeps the selected total up to date as boxes are
 *    ticked. Amounts are integer fen (data-fen), never floats; the server prices the payment
 *    again when the form is posted, so this figure is only a guide.
 * 2. The payment page ([data-stripe-payment]): mounts Stripe's Payment Element with the
 *    PaymentIntent's client secret and confirms it; Stripe then sends the browser to the
 *    return page (data-return-url). Card data stays inside Stripe's frames.
 */
(function () {
  "use strict";

  function formatFen(fen) {
    var yuan = Math.floor(fen / 100);
    var cents = String(fen % 100).padStart(2, "0");
    return "¥" + yuan.toLocaleString("en-US") + "." + cents;
  }

  function selection(form) {
    var boxes = form.querySelectorAll('input[type="checkbox"][name="bill"][data-fen]');
    var outputs = form.querySelectorAll("[data-selection-total]");
    function update() {
      var fen = 0;
      boxes.forEach(function (box) {
        if (box.checked) {
          fen += parseInt(box.getAttribute("data-fen"), 10) || 0;
        }
      });
      outputs.forEach(function (output) {
        output.textContent = formatFen(fen);
      });
    }
    boxes.forEach(function (box) {
      box.addEventListener("change", update);
    });
    update();
  }

  function stripePayment(form) {
    var message = form.querySelector("[data-stripe-message]");
    var button = form.querySelector("[data-stripe-submit]");
    function show(text) {
      message.className = "alert alert--error";
      message.textContent = text;
    }
    if (typeof window.Stripe !== "function") {
      // Stripe.js did not load (offline, blocked): no form, so no button to press either.
      show(form.dataset.loadError);
      button.style.display = "none";
      return;
    }
    var stripe = window.Stripe(form.dataset.publishableKey, { locale: form.dataset.locale });
    var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
    var payment = elements.create("payment");
    payment.mount(form.querySelector("[data-stripe-element]"));
    payment.on("ready", function () {
      button.disabled = false;
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      message.className = "";
      message.textContent = "";
      stripe
        .confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
        .then(function (result) {
          // Only reached when the payment could not be confirmed (otherwise Stripe has already
          // sent the browser to the return page).
          if (result.error) {
            show(result.error.message || form.dataset.genericError);
          }
          button.disabled = false;
        });
    });
  }

  var choose = document.querySelector("[data-pay-selection]");
  if (choose) {
    selection(choose);
  }
  var pay = document.querySelector("[data-stripe-payment]");
  if (pay) {
    stripePayment(pay);
  }
})();
