#!/usr/bin/env node
/** The `canopy` executable (package.json `bin`): runs the CLI and sets the exit code. */
import { main } from './main.js';

main(process.argv).then((code) => {
  process.exitCode = code;
});
