// Where things are in the repository, and which YAML files are recipes or components.
//
// Not a test file (node --test only runs *.test.mjs and friends).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCHEMAS_DIR = path.join(REPO_ROOT, 'schemas');
export const RECIPE_SCHEMA = path.join(SCHEMAS_DIR, 'recipe.schema.json');
export const COMPONENT_SCHEMA = path.join(SCHEMAS_DIR, 'component.schema.json');

/**
 * The folder of example recipes. RECIPES_DIR overrides it (relative paths are taken from the
 * repository root), e.g. to point the tests at a scratch folder.
 */
export const RECIPES_DIR = process.env.RECIPES_DIR
  ? path.resolve(REPO_ROOT, process.env.RECIPES_DIR)
  : path.join(REPO_ROOT, 'recipes');

const YAML_EXT = /\.ya?ml$/;

/**
 * Every YAML file under `dir`, sorted, split as the loader splits them: files in a `components/`
 * folder (at any depth) are components, every other file is a recipe. Hidden folders are skipped,
 * as `recipe validate` skips them.
 */
export function listYamlFiles(dir = RECIPES_DIR) {
  const recipes = [];
  const components = [];
  if (!fs.existsSync(dir)) return { recipes, components };
  const walk = (d, inComponents) => {
    const entries = fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(d, e.name);
      if (e.isDirectory()) {
        walk(full, inComponents || e.name === 'components');
      } else if (e.isFile() && YAML_EXT.test(e.name)) {
        (inComponents ? components : recipes).push(full);
      }
    }
  };
  walk(dir, false);
  return { recipes, components };
}

/** The `$schema=` of a file's yaml-language-server modeline, or undefined. */
export function modelineSchema(text) {
  // yaml-language-server reads the modeline from the comments that head the document.
  for (const line of text.split(/\r?\n/)) {
    if (!line.startsWith('#')) break;
    const m = /^#\s+yaml-language-server\s*:.*\$schema(?:=|:[^\S\r\n]*)(\S+)/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/** The file a modeline's schema reference names, resolved as yaml-language-server resolves it. */
export function resolveModeline(file, ref) {
  if (ref.startsWith('file:')) return fileURLToPath(ref);
  if (/^https?:/.test(ref)) return ref;
  return path.resolve(path.dirname(file), ref.split('#')[0]);
}

/** A path for messages: relative to the repository root when inside it. */
export function rel(file) {
  const r = path.relative(REPO_ROOT, file);
  return r.startsWith('..') ? file : r;
}
