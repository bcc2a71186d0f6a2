import path from 'node:path';
import express, { Router } from 'express';
import { buildOpenApiDocument } from './document';

/** swagger-ui-dist's folder (its index.js would load the whole browser bundle into the API just to say where it is). */
const SWAGGER_UI = path.dirname(require.resolve('swagger-ui-dist/package.json'));

/** The page: Swagger UI from the npm package, served by the API itself (no CDN), reading /openapi.json. */
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Backflow API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, docExpansion: 'list', tryItOutEnabled: false });
  </script>
</body>
</html>
`;

/** GET /openapi.json and GET /docs, without a key (they describe the API, they reveal nothing of its data). */
export function openApiRoutes() {
  const r = Router();
  let doc: string | undefined;
  r.get('/openapi.json', (_req, res) => {
    doc ??= JSON.stringify(buildOpenApiDocument());
    res.type('application/json').send(doc);
  });
  r.get('/docs', (_req, res) => void res.type('html').send(DOCS_PAGE));
  // Static files are middleware, not routes: only the page above is part of the API.
  r.use('/docs/assets', express.static(SWAGGER_UI, { index: false, fallthrough: true }));
  return r;
}
