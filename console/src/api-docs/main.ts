/**
 * The API reference at /api/v1/docs: Swagger UI rendering this deployment's OpenAPI document.
 * Bundled by Vite with the console and served under the console's CSP: no inline script, no
 * third-party origin (no validator badge, no remote config), and the document from this origin.
 */
import "swagger-ui-dist/swagger-ui.css";
import "./api-docs.css";
import SwaggerUI from "swagger-ui-dist/swagger-ui-es-bundle.js";

SwaggerUI({
  url: "/api/v1/openapi.json",
  dom_id: "#api-reference",
  deepLinking: true,
  // Swagger UI would send the document to validator.swagger.io for a badge.
  validatorUrl: null,
  // Never take a document URL or configuration from the address bar.
  queryConfigEnabled: false,
  displayOperationId: true,
  defaultModelsExpandDepth: 0,
});
