// Validates every example recipe and component against the generated JSON Schemas with Ajv
// (draft-07, strict mode), the way any JSON Schema tool other than `recipe` itself would.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import Ajv from 'ajv'; // ajv's default export validates draft-07
import { LineCounter, parseDocument } from 'yaml';

import {
  COMPONENT_SCHEMA,
  RECIPE_SCHEMA,
  RECIPES_DIR,
  listYamlFiles,
  modelineSchema,
  rel,
  resolveModeline,
} from './repo.mjs';

function makeAjv() {
  // strict: unknown keywords or formats in the schemas are errors, so a schema that Ajv only
  // half-understands cannot pass. `examples` is a draft-07 annotation Ajv knows.
  const ajv = new Ajv({ strict: true, allErrors: true });
  // schemars writes Rust integer widths as formats; give them their meaning.
  const uint = (max) => ({ type: 'number', validate: (n) => Number.isInteger(n) && n >= 0 && n <= max });
  ajv.addFormat('uint8', uint(0xff));
  ajv.addFormat('uint16', uint(0xffff));
  ajv.addFormat('uint32', uint(0xffff_ffff));
  // The annotation VS Code and yaml-language-server render as Markdown in hovers.
  ajv.addKeyword({ keyword: 'markdownDescription', schemaType: 'string' });
  return ajv;
}

const ajv = makeAjv();
const loadSchema = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const validateRecipe = ajv.compile(loadSchema(RECIPE_SCHEMA));
const validateComponent = ajv.compile(loadSchema(COMPONENT_SCHEMA));

/** Parse YAML as strictly as `recipe` does: one document, no duplicate keys, YAML 1.2 core. */
function parseYaml(text, name) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true, version: '1.2' });
  if (doc.errors.length > 0) {
    throw new Error(`${name}: YAML errors:\n${doc.errors.map((e) => e.message).join('\n')}`);
  }
  return { doc, lineCounter, value: doc.toJS({ maxAliasCount: 1000 }) };
}

/**
 * Ajv errors with the (1-based) line each instance path points at. A failed `oneOf` (a step whose
 * kind is unknown, say) also fails every branch at the same place: those branch errors are left out
 * and the `oneOf` error names the keys the node has instead.
 */
function describeErrors(errors, { doc, lineCounter }, name) {
  const oneOfAt = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const branchNoise = new Set(['required', 'additionalProperties', 'type', 'const', 'enum']);
  return errors
    .filter((e) => !(oneOfAt.has(e.instancePath) && branchNoise.has(e.keyword)))
    .map((e) => {
      const segments = e.instancePath
        .split('/')
        .slice(1)
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
      const node = segments.length ? doc.getIn(segments, true) : doc.contents;
      const line = node?.range ? lineCounter.linePos(node.range[0]).line : '?';
      let detail = JSON.stringify(e.params);
      if (e.keyword === 'oneOf') {
        const value = node?.toJSON?.();
        detail = value && typeof value === 'object' ? `(keys here: ${Object.keys(value).join(', ')})` : `(value: ${JSON.stringify(value)})`;
      }
      return `${name}:${line}: ${e.instancePath || '/'} ${e.message} ${detail}`;
    })
    .join('\n');
}

function check(validate, text, name) {
  const parsed = parseYaml(text, name);
  const ok = validate(parsed.value);
  return { ok, errors: ok ? [] : validate.errors, parsed };
}

function assertValid(validate, text, name) {
  const { ok, errors, parsed } = check(validate, text, name);
  assert.ok(ok, `${name} does not match its schema:\n${ok ? '' : describeErrors(errors, parsed, name)}`);
}

const { recipes, components } = listYamlFiles();

describe(`example recipes in ${rel(RECIPES_DIR)}/`, () => {
  test('there are recipe files to check', () => {
    assert.ok(recipes.length > 0, `no *.yaml recipes found under ${RECIPES_DIR}`);
  });

  for (const file of recipes) {
    test(`recipe ${rel(file)}`, () => {
      const text = fs.readFileSync(file, 'utf8');
      assertValid(validateRecipe, text, rel(file));
      const ref = modelineSchema(text);
      assert.ok(ref, `${rel(file)} lacks the "# yaml-language-server: $schema=..." modeline`);
      assert.equal(
        resolveModeline(file, ref),
        RECIPE_SCHEMA,
        `${rel(file)}: modeline $schema=${ref} does not resolve to schemas/recipe.schema.json`,
      );
    });
  }

  for (const file of components) {
    test(`component ${rel(file)}`, () => {
      const text = fs.readFileSync(file, 'utf8');
      assertValid(validateComponent, text, rel(file));
      const ref = modelineSchema(text);
      if (ref !== undefined) {
        assert.equal(
          resolveModeline(file, ref),
          COMPONENT_SCHEMA,
          `${rel(file)}: modeline $schema=${ref} does not resolve to schemas/component.schema.json`,
        );
      }
    });
  }
});

// Known documents, so that these tests can fail: a schema that accepted everything (or nothing)
// would be caught here.
const GOOD_RECIPE = `name: web
target: ec2-ami
strategy: thin
os: linux
version: "1.0.0"
base:
  ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
builder: { instance-type: t3.small, volume-size-gib: 20 }
steps:
  - update-os: { security-only: true }
  - packages: { install: [nginx], manager: dnf }
  - shell:
      run: systemctl enable nginx
      retries: 2
      timeout: 10m
  - reboot: {}
  - include: components/hardening.yaml
  - shell: { run: echo first boot, stage: launch }
tests:
  - shell: { run: nginx -t }
cleanup: linux
image:
  name: web-\${version}-\${timestamp}
  tags: { Project: storefront }
retain: { keep: 3, deprecate-after: 90d }
`;

describe('known documents', () => {
  test('a good recipe is accepted', () => {
    assertValid(validateRecipe, GOOD_RECIPE, 'good recipe');
  });

  test('a good component is accepted', () => {
    assertValid(
      validateComponent,
      'description: hardening\nsteps:\n  - shell: { run: "true" }\n  - include: other.yaml\n',
      'good component',
    );
  });

  const rejected = (name, validate, text, expectPath, expectKeyword) => {
    test(`rejects ${name}`, () => {
      const { ok, errors } = check(validate, text, name);
      assert.equal(ok, false, `${name} was accepted`);
      assert.ok(
        errors.some((e) => e.instancePath === expectPath && e.keyword === expectKeyword),
        `${name}: expected a "${expectKeyword}" error at "${expectPath}", got ${JSON.stringify(errors, null, 1)}`,
      );
    });
  };

  rejected('an unknown top-level field', validateRecipe, `${GOOD_RECIPE}colour: blue\n`, '', 'additionalProperties');
  rejected(
    'an unknown field in a step',
    validateRecipe,
    GOOD_RECIPE.replace('retries: 2', 'retries: 2\n      retry: 3'),
    '/steps/2/shell',
    'additionalProperties',
  );
  rejected(
    'an unknown step kind',
    validateRecipe,
    GOOD_RECIPE.replace('  - reboot: {}', '  - shel: { run: ls }'),
    '/steps/3',
    'additionalProperties',
  );
  rejected(
    'a step with two kinds',
    validateRecipe,
    GOOD_RECIPE.replace('  - reboot: {}', '  - reboot: {}\n    shell: { run: ls }'),
    '/steps/3',
    'maxProperties',
  );
  rejected('a list as version', validateRecipe, GOOD_RECIPE.replace('version: "1.0.0"', 'version: [1]'), '/version', 'type');
  rejected(
    'a string as retries',
    validateRecipe,
    GOOD_RECIPE.replace('retries: 2', 'retries: "x"'),
    '/steps/2/shell/retries',
    'type',
  );
  rejected(
    'retries above 10',
    validateRecipe,
    GOOD_RECIPE.replace('retries: 2', 'retries: 11'),
    '/steps/2/shell/retries',
    'maximum',
  );
  rejected('a bad duration', validateRecipe, GOOD_RECIPE.replace('timeout: 10m', 'timeout: 10 minutes'), '/steps/2/shell/timeout', 'pattern');
  rejected('a missing required field', validateRecipe, GOOD_RECIPE.replace('os: linux\n', ''), '', 'required');
  rejected('an unknown target', validateRecipe, GOOD_RECIPE.replace('target: ec2-ami', 'target: ec2'), '/target', 'oneOf');
  rejected('a component without steps', validateComponent, 'description: nothing\n', '', 'required');
  rejected(
    'an unknown step kind in a component',
    validateComponent,
    'steps:\n  - powershel: { run: dir }\n',
    '/steps/0',
    'additionalProperties',
  );

  test('duplicate keys are refused before the schema is consulted', () => {
    assert.throws(() => parseYaml(`${GOOD_RECIPE}name: again\n`, 'duplicate'), /Map keys must be unique/);
  });
});
