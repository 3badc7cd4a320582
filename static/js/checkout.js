// Card payment on the checkout page, confirmed on the server:
//  1. Stripe.js turns the card typed in its Card Element into a PaymentMethod;
//  2. we POST its id to our server (CSRF-protected), which sets it on the PaymentIntent and
//     confirms it there (Stripe's "finalize payments on the server" flow);
//  3. if the bank wants 3-D Secure, Stripe.js runs it for the intent (now requires_action);
//  4. the browser goes to our return URL, where the server asks Stripe what happened (the
//     webhook may already have told it) and shows the booking or the reason it failed.
// Why not confirmCardPayment(secret, {payment_method: {card}}) alone: the tests run against
// localstripe, whose stand-in Stripe.js ignores the card in confirmCardPayment (it only
// performs the 3-D Secure step on an intent already confirmed by the server) and has no
// createPaymentMethod. This sequence is correct for Stripe.js and works with the stand-in.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || typeof Stripe === "undefined") { return; }
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card", { hidePostalCode: true });
  card.mount("#card-element");
  var errors = document.getElementById("card-errors");
  var button = document.getElementById("pay-button");

  function fail(message) {
    errors.textContent = message || form.dataset.failedText;
    button.disabled = false;
  }

  // The id of a payment method for the typed card: a PaymentMethod (Stripe.js), or, with
  // localstripe's stand-in (its createPaymentMethod resolves to nothing), the card of a token.
  function paymentMethodId() {
    return Promise.resolve(stripe.createPaymentMethod({ type: "card", card: card }))
      .then(function (result) {
        if (result && (result.paymentMethod || result.error)) {
          return result.error ? { error: result.error } : { id: result.paymentMethod.id };
        }
        return stripe.createToken(card).then(function (token) {
          return token.error ? { error: token.error } : { id: token.token.card.id };
        });
      });
  }

  function authenticate(clientSecret) {
    // Stripe.js has handleNextAction for an intent confirmed on the server; the stand-in
    // does the same step in confirmCardPayment(clientSecret) with no card data.
    return stripe.handleNextAction ? stripe.handleNextAction({ clientSecret: clientSecret })
      : stripe.confirmCardPayment(clientSecret);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    errors.textContent = "";
    paymentMethodId().then(function (method) {
      if (method.error) { fail(method.error.message); return; }
      var body = new URLSearchParams();
      body.append("csrf_token", form.querySelector("input[name=csrf_token]").value);
      body.append("payment_method", method.id);
      return fetch(form.dataset.payUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        return response.json().catch(function () { return {}; });
      }).then(function (answer) {
        if (!answer.next) { fail(answer.error); return; }
        if (answer.status === "requires_action") {
          // Whatever the bank says, the return URL reads the outcome from Stripe.
          return authenticate(form.dataset.clientSecret).then(function () {
            window.location.assign(form.dataset.returnUrl);
          });
        }
        window.location.assign(form.dataset.returnUrl);
      });
    }).catch(function () { fail(); });
  });
})();
