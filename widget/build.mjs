// Bundles widget/src/ into one minified script, dist/chatkit.js, with esbuild.
// `npm run build` runs it; widget/build.py (make install, the core's wheel build, the tests)
// runs that when the sources changed. The version comes from chatkit_core/VERSION.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const here = new URL('.', import.meta.url);
const version = readFileSync(new URL('../chatkit_core/VERSION', here), 'utf8').trim();

const out = new URL('dist/chatkit.js', here).pathname;

const result = await build({
  entryPoints: [new URL('src/main.js', here).pathname],
  outfile: out,
  write: false,
  bundle: true,
  minify: true,
  format: 'iife',
  // What the sources use (??=, optional chaining, regex lookbehind) is left as written.
  target: 'es2021',
  define: { __CHATKIT_VERSION__: JSON.stringify(version) },
  banner: { js: `/*! ChatKit widget ${version} | MIT License */\n"use strict";` },
  legalComments: 'none',
  logLevel: 'warning',
});

// Written whole, then renamed: a server reading the bundle never sees half of it.
mkdirSync(new URL('dist', here), { recursive: true });
writeFileSync(`${out}.${process.pid}`, result.outputFiles[0].contents);
renameSync(`${out}.${process.pid}`, out);
