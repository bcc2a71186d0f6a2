import { writeFileSync } from 'node:fs';
import { buildOpenApiDocument } from './document';

/** Writes the OpenAPI document to the file given (or stdout): the input of the CLI's generated client (npm run gen:client). */
const text = `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
if (process.argv[2]) writeFileSync(process.argv[2], text);
else process.stdout.write(text);
// Importing the routes' modules opens nothing, but leaves nothing to wait for either.
process.exit(0);
