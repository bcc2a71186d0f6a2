#!/usr/bin/env node
// The CLI, as compiled by scripts/node-deps.sh (npx tsc -p tsconfig.build.json) into dist/.
require('../dist/cli/main.js').main().then((code) => process.exit(code));
