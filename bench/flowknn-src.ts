/** `flowknn` from the sources (what bin/flowknn.js runs from dist/), for benches that time the CLI
 *  as a user runs it without a build: node --import tsx bench/flowknn-src.ts ARGS */
import { main } from '../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
