// Renders /openapi.json with the vendored Swagger UI (service/static/swagger-ui/).
// A separate file (not an inline script) so the page can forbid inline scripts in its CSP.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No calls to the public validator service: everything stays on this server.
    validatorUrl: null,
    tryItOutEnabled: false
  });
})();
