// Starts Swagger UI on /openapi.json. A file, not an inline script, so a strict Content-Security-Policy holds.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null, // no badge fetched from validator.swagger.io (the CSP allows our own origin only)
  });
});
