import path from 'node:path';
import express, { Router, type RequestHandler } from 'express';
import { buildOpenApiDocument } from './document';

/** swagger-ui-dist's folder (its index.js would load the whole browser bundle into the API just to say where it is). */
const SWAGGER_UI = path.dirname(require.resolve('swagger-ui-dist/package.json'));

/** The page: Swagger UI from the npm package, served by the API itself (no CDN), reading /openapi.json. */
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Backflow API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, docExpansion: 'list', displayOperationId: true, tryItOutEnabled: false });
  </script>
</body>
</html>
`;

/**
 * GET /openapi.json (a route of the API, described in the document itself) and the page at /docs with its
 * assets (middleware, like any static files: a page for people, not an operation of the API). Neither needs
 * a key: they describe the API and reveal nothing of its data.
 */
export function openApiRoutes() {
  const r = Router();
  let doc: string | undefined;
  r.get('/openapi.json', (_req, res) => {
    doc ??= JSON.stringify(buildOpenApiDocument());
    res.type('application/json').send(doc);
  });
  const page: RequestHandler = (req, res, next) => (req.path === '/' && ['GET', 'HEAD'].includes(req.method) ? void res.type('html').send(DOCS_PAGE) : next());
  r.use('/docs', page, express.static(SWAGGER_UI, { index: false }));
  return r;
}
