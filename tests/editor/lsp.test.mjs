// What an editor shows for recipes: yaml-language-server (the server behind the Red Hat YAML
// extension for VS Code, and used by Neovim, Helix, Zed, ...) driven over stdio, with the schema
// found through the `# yaml-language-server: $schema=...` modeline the recipes carry.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

import { LspClient } from './lsp-client.mjs';
import {
  COMPONENT_SCHEMA,
  RECIPE_SCHEMA,
  REPO_ROOT,
  listYamlFiles,
  modelineSchema,
  rel,
  resolveModeline,
} from './repo.mjs';

/** Bound on every wait for the server: a document's diagnostics, a completion, a hover. */
const WAIT_MS = 20_000;
/** Bound on a whole test, a little over the waits it makes. */
const TEST_MS = 60_000;

const YAML_SETTINGS = {
  validate: true,
  completion: true,
  hover: true,
  schemas: {},
  // There is no internet here: the schema store catalogue must not be fetched.
  schemaStore: { enable: false },
};

/** Answers to the server's workspace/configuration requests, by section. */
const CONFIGURATION = { yaml: YAML_SETTINGS, http: {}, '[yaml]': {}, editor: {} };

const SEVERITY_ERROR = 1;

const STEP_KINDS = [
  'shell',
  'powershell',
  'script',
  'file',
  'packages',
  'update-os',
  'download',
  'reboot',
  'include',
  'app',
  'manual',
  'sysprep',
];

/** A valid recipe body, without its modeline. */
const VALID_BODY = `name: web
target: ec2-ami
strategy: thin
os: linux
version: "1.0.0"
base:
  ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
builder:
  instance-type: t3.small
steps:
  - update-os: { security-only: true }
  - packages:
      install: [nginx]
  - shell:
      run: systemctl enable nginx
      retries: 2
      timeout: 10m
  - reboot: {}
  - shell: { run: echo first boot, stage: launch }
cleanup: linux
image:
  name: web-\${version}-\${timestamp}
`;

const modeline = (schemaRef) => `# yaml-language-server: $schema=${schemaRef}\n`;

/** The 0-based line of the single line of `text` that contains `needle`. */
function lineOf(text, needle) {
  const lines = text.split('\n');
  const hits = lines.flatMap((l, i) => (l.includes(needle) ? [i] : []));
  assert.equal(hits.length, 1, `test bug: ${JSON.stringify(needle)} is on ${hits.length} lines`);
  return hits[0];
}

/** Diagnostics for a failure message, with 1-based lines and columns as editors show them. */
const show = (diagnostics) =>
  diagnostics.length === 0
    ? '(none)'
    : diagnostics
        .map((d) => `  line ${d.range.start.line + 1}:${d.range.start.character + 1} severity ${d.severity}: ${d.message}`)
        .join('\n');

const errorsOf = (diagnostics) => diagnostics.filter((d) => (d.severity ?? SEVERITY_ERROR) === SEVERITY_ERROR);

describe('yaml-language-server with the recipe schema', { timeout: 5 * TEST_MS }, () => {
  let client;
  let dir;
  let counter = 0;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recipe-lsp-'));
    client = new LspClient({ settings: CONFIGURATION, requestTimeoutMs: WAIT_MS }).start();
    process.once('exit', () => client.kill());
    try {
      const init = await client.initialize(pathToFileURL(REPO_ROOT).href);
      assert.ok(init?.capabilities?.completionProvider, 'server offers no completion');
      const pulled = client.waitForConfigurationPull();
      client.notify('workspace/didChangeConfiguration', { settings: { yaml: YAML_SETTINGS } });
      await pulled;
    } catch (err) {
      client.kill();
      throw new Error(`${err.message}\nserver stderr:\n${client.stderr}`, { cause: err });
    }
  });

  after(async () => {
    try {
      if (client) {
        const exited = await client.stop();
        assert.deepEqual(exited, { code: 0, signal: null }, `server did not exit cleanly; stderr:\n${client.stderr}`);
      }
    } finally {
      client?.kill();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Write `text` to a new file in the scratch folder, open it, and wait for its diagnostics. */
  async function open(text, name = `doc-${++counter}.yaml`) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    const uri = pathToFileURL(file).href;
    const diagnostics = await client.openAndDiagnose(uri, text, WAIT_MS);
    return { file, uri, text, diagnostics };
  }

  /** A recipe whose modeline names the schema by absolute path. */
  const recipe = (body) => modeline(RECIPE_SCHEMA) + body;

  async function completionLabels(doc, position) {
    const result = await client.request('textDocument/completion', { textDocument: { uri: doc.uri }, position });
    const items = Array.isArray(result) ? result : (result?.items ?? []);
    return items;
  }

  test('a valid recipe has no error diagnostics, and its schema is attached', { timeout: TEST_MS }, async () => {
    const doc = await open(recipe(VALID_BODY));
    assert.equal(errorsOf(doc.diagnostics).length, 0, `unexpected diagnostics:\n${show(doc.diagnostics)}`);
    // No diagnostics would also be what a document without a schema gets: prove the schema is there.
    const hover = await client.request('textDocument/hover', {
      textDocument: { uri: doc.uri },
      position: { line: lineOf(doc.text, 'strategy: thin'), character: 1 },
    });
    const text = JSON.stringify(hover?.contents ?? '');
    assert.match(text, /Hybrid/, `hover on strategy: thin does not show the schema's description: ${text}`);
    assert.match(text, /recipe\.schema\.json/, `hover does not name recipe.schema.json as its source: ${text}`);
  });

  test('an unknown field is reported on its line', { timeout: TEST_MS }, async () => {
    const doc = await open(recipe(VALID_BODY.replace('os: linux\n', 'os: linux\ncolour: blue\n')));
    const line = lineOf(doc.text, 'colour: blue');
    const errors = errorsOf(doc.diagnostics);
    assert.ok(errors.length > 0, 'no diagnostics for an unknown field');
    assert.ok(
      errors.every((d) => d.range.start.line === line) && errors.some((d) => /colour/.test(d.message)),
      `expected diagnostics naming "colour" on line ${line + 1} only, got:\n${show(doc.diagnostics)}`,
    );
  });

  test('an unknown field inside a step is reported on its line', { timeout: TEST_MS }, async () => {
    const doc = await open(recipe(VALID_BODY.replace('      retries: 2\n', '      retries: 2\n      retry: 3\n')));
    const line = lineOf(doc.text, 'retry: 3');
    const errors = errorsOf(doc.diagnostics);
    assert.ok(
      errors.length > 0 && errors.every((d) => d.range.start.line === line),
      `expected diagnostics on line ${line + 1} only, got:\n${show(doc.diagnostics)}`,
    );
  });

  test('wrong types are reported on their lines', { timeout: TEST_MS }, async () => {
    const doc = await open(
      recipe(VALID_BODY.replace('version: "1.0.0"', 'version: [1]').replace('retries: 2', 'retries: "x"')),
    );
    const versionLine = lineOf(doc.text, 'version: [1]');
    const retriesLine = lineOf(doc.text, 'retries: "x"');
    const errors = errorsOf(doc.diagnostics);
    const on = (line) => errors.filter((d) => d.range.start.line === line);
    assert.ok(on(versionLine).some((d) => /type/i.test(d.message)), `no type error on line ${versionLine + 1}:\n${show(doc.diagnostics)}`);
    assert.ok(on(retriesLine).some((d) => /type/i.test(d.message)), `no type error on line ${retriesLine + 1}:\n${show(doc.diagnostics)}`);
    assert.equal(
      errors.length,
      on(versionLine).length + on(retriesLine).length,
      `diagnostics on other lines:\n${show(doc.diagnostics)}`,
    );
  });

  test('an unknown step kind is reported on its line', { timeout: TEST_MS }, async () => {
    const doc = await open(recipe(VALID_BODY.replace('  - reboot: {}\n', '  - shel: { run: ls }\n')));
    const line = lineOf(doc.text, '- shel:');
    const errors = errorsOf(doc.diagnostics);
    assert.ok(
      errors.length > 0 && errors.every((d) => d.range.start.line === line),
      `expected diagnostics on line ${line + 1} only, got:\n${show(doc.diagnostics)}`,
    );
    assert.ok(errors.some((d) => /shel\b/.test(d.message)), `no diagnostic names "shel":\n${show(doc.diagnostics)}`);
  });

  test('a step list item offers every step kind', { timeout: TEST_MS }, async () => {
    const body = VALID_BODY.replace('  - reboot: {}\n', '  - reboot: {}\n  - \n');
    const doc = await open(recipe(body));
    const line = doc.text.split('\n').indexOf('  - ');
    assert.ok(line > 0, 'test bug: no empty list item');
    const items = await completionLabels(doc, { line, character: 4 });
    const labels = new Set(items.map((i) => i.label));
    const missing = STEP_KINDS.filter((k) => !labels.has(k));
    assert.deepEqual(missing, [], `completion lacks step kinds; it offered: ${[...labels].join(', ')}`);
    // The property items offered are step kinds and nothing else (no step body fields leaking in).
    const properties = items.filter((i) => i.kind === 10).map((i) => i.label);
    assert.deepEqual(
      properties.filter((p) => !STEP_KINDS.includes(p)),
      [],
      `completion offers properties that are not step kinds: ${properties.join(', ')}`,
    );
  });

  test('a shell step body offers its fields', { timeout: TEST_MS }, async () => {
    const body = VALID_BODY.replace('      retries: 2\n', '      retries: 2\n      \n');
    const doc = await open(recipe(body));
    const line = doc.text.split('\n').indexOf('      ');
    const labels = new Set((await completionLabels(doc, { line, character: 6 })).map((i) => i.label));
    for (const field of ['env', 'name', 'stage', 'os']) {
      assert.ok(labels.has(field), `completion in a shell step lacks "${field}"; it offered: ${[...labels].join(', ')}`);
    }
  });

  test(
    'a partly typed step kind offers the matching kinds',
    { timeout: TEST_MS },
    async () => {
      const body = VALID_BODY.replace('  - reboot: {}\n', '  - reboot: {}\n  - sh\n');
      const doc = await open(recipe(body));
      const line = doc.text.split('\n').indexOf('  - sh');
      const labels = new Set((await completionLabels(doc, { line, character: 6 })).map((i) => i.label));
      assert.ok(labels.has('shell'), `completion after "- sh" lacks "shell"; it offered: ${[...labels].join(', ')}`);
    },
  );

  test('a relative modeline path resolves against the document', { timeout: TEST_MS }, async () => {
    // As the recipes write it (`../schemas/recipe.schema.json`), here from the scratch folder.
    const relative = path.relative(dir, RECIPE_SCHEMA);
    assert.ok(!path.isAbsolute(relative));
    const doc = await open(modeline(relative) + VALID_BODY.replace('os: linux\n', 'os: linux\ncolour: blue\n'));
    const line = lineOf(doc.text, 'colour: blue');
    const errors = errorsOf(doc.diagnostics);
    assert.ok(
      errors.length > 0 && errors.every((d) => d.range.start.line === line),
      `expected the unknown field on line ${line + 1} only, got:\n${show(doc.diagnostics)}`,
    );
  });

  test('a modeline naming a missing schema is reported, not silently ignored', { timeout: TEST_MS }, async () => {
    const doc = await open(modeline(path.join(dir, 'no-such.schema.json')) + VALID_BODY);
    assert.ok(
      errorsOf(doc.diagnostics).some((d) => /Unable to load schema/.test(d.message)),
      `expected "Unable to load schema", got:\n${show(doc.diagnostics)}`,
    );
  });

  test('completion under base: names each kind by its key, with no identical entries', { timeout: TEST_MS }, async () => {
    const body = VALID_BODY.replace(
      'base:\n  ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\n',
      'base:\n  \n',
    );
    const doc = await open(recipe(body));
    const line = doc.text.split('\n').indexOf('  ', lineOf(doc.text, 'base:'));
    const items = await completionLabels(doc, { line, character: 2 });
    const kinds = ['ssm-parameter', 'ami-filter', 'image-id', 'recipe', 'bundle', 'workspace', 'appstream-image'];
    const properties = items.filter((i) => i.kind === 10).map((i) => i.label);
    assert.deepEqual([...properties].sort(), [...kinds].sort(), `the keys offered: ${properties.join(', ')}`);
    // yaml-language-server also offers a skeleton per alternative, labelled by its title: each names
    // its kind (it was `object(recipe)` seven times).
    const skeletons = items.filter((i) => i.kind !== 10).map((i) => i.label);
    assert.deepEqual(
      skeletons.filter((l, i) => skeletons.indexOf(l) !== i),
      [],
      `identical entries: ${skeletons.join(', ')}`,
    );
    assert.ok(skeletons.every((l) => kinds.includes(l)), `skeletons: ${skeletons.join(', ')}`);
  });

  /** The hover on the first occurrence of `needle`, as text. */
  async function hoverText(doc, needle, character = 3) {
    const hover = await client.request('textDocument/hover', {
      textDocument: { uri: doc.uri },
      position: { line: lineOf(doc.text, needle), character },
    });
    const c = hover?.contents;
    return typeof c === 'string' ? c : (c?.value ?? (Array.isArray(c) ? c.map((x) => x.value ?? x).join('\n') : ''));
  }

  test('hover on a base kind explains it, as prose with code spans', { timeout: TEST_MS }, async () => {
    const doc = await open(recipe(VALID_BODY));
    const text = await hoverText(doc, 'ssm-parameter: /aws');
    assert.match(text, /SSM public parameter that names the latest AMI/, `hover on ssm-parameter: ${text}`);
    const builder = await hoverText(doc, 'instance-type: t3.small');
    // One sentence per line of the description: doc-comment line breaks are joined.
    assert.match(builder, /EC2 instance type \(`ec2-ami`\) or AppStream instance type/, `hover: ${builder}`);
    const description = builder.split('\n').find((l) => l.includes('EC2 instance type')) ?? '';
    assert.ok(description.trim().endsWith('.'), `the description breaks mid-sentence: ${JSON.stringify(builder)}`);
  });

  describe('the editor and `recipe validate` agree, both ways', () => {
    const bin = process.env.RECIPE_BIN ?? path.join(REPO_ROOT, 'target', 'debug', 'recipe');
    const cases = [
      ['a valid recipe', VALID_BODY, true],
      ['a quoted file mode', VALID_BODY.replace('  - reboot: {}\n', '  - file: { src: x.yaml, dest: /etc/x, mode: "0644" }\n  - reboot: {}\n'), true],
      ['an unquoted file mode', VALID_BODY.replace('  - reboot: {}\n', '  - file: { src: x.yaml, dest: /etc/x, mode: 0644 }\n  - reboot: {}\n'), false],
      ['a quoted account id', `${VALID_BODY}distribute:\n  share: { accounts: ["123456789012"] }\n`, true],
      ['an unquoted account id', `${VALID_BODY}distribute:\n  share: { accounts: [123456789012] }\n`, false],
      ['an account id of 11 digits', `${VALID_BODY}distribute:\n  share: { accounts: ["12345678901"] }\n`, false],
      ['a known region', `${VALID_BODY}distribute:\n  regions: [eu-central-1]\n`, true],
      ['a misspelt region', `${VALID_BODY}distribute:\n  regions: [eu-centrl-1]\n`, false],
      ['a bundle on an AMI recipe', `${VALID_BODY}bundle: { name: web, compute: STANDARD, root-volume-gib: 80, user-volume-gib: 10 }\n`, false],
      ['an app step on an AMI recipe', VALID_BODY.replace('  - reboot: {}\n', '  - app: { name: x, display-name: X, path: C:\\\\x.exe }\n  - reboot: {}\n'), false],
      ['deprecate-after on an AMI recipe', `${VALID_BODY}retain: { keep: 2, deprecate-after: 90d }\n`, true],
    ];
    for (const [name, body, valid] of cases) {
      test(`${name}: ${valid ? 'both accept' : 'both refuse'}`, { timeout: TEST_MS }, async () => {
        const doc = await open(recipe(body));
        fs.writeFileSync(path.join(dir, 'x.yaml'), 'x: 1\n');
        const run = spawnSync(bin, ['validate', doc.file], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
        assert.ok(run.status !== null, `cannot run ${bin} (build it: cargo build -p recipe-cli): ${run.error}`);
        const cli = run.status === 0;
        const editor = errorsOf(doc.diagnostics).length === 0;
        assert.equal(cli, valid, `recipe validate exit ${run.status}:\n${run.stderr}`);
        assert.equal(editor, valid, `the editor shows:\n${show(doc.diagnostics)}`);
      });
    }
  });

  describe('the files in recipes/, through their own modelines', () => {
    const { recipes, components } = listYamlFiles();
    const files = [
      ...recipes.map((f) => ({ file: f, schema: RECIPE_SCHEMA })),
      ...components.map((f) => ({ file: f, schema: COMPONENT_SCHEMA })),
    ];
    if (files.length === 0) {
      test('recipes/ has YAML files', { skip: 'no YAML files in recipes/ yet (schema.test.mjs fails on that)' }, () => {});
    }
    for (const { file, schema } of files) {
      test(rel(file), { timeout: TEST_MS }, async (t) => {
        const text = fs.readFileSync(file, 'utf8');
        const ref = modelineSchema(text);
        if (ref === undefined) {
          // schema.test.mjs requires the modeline on recipes; a component without one gets no help.
          t.skip('no modeline: an editor validates this file against nothing');
          return;
        }
        assert.equal(resolveModeline(file, ref), schema, `modeline $schema=${ref} names the wrong schema`);
        const uri = pathToFileURL(file).href;
        const diagnostics = await client.openAndDiagnose(uri, text, WAIT_MS);
        client.close(uri);
        assert.equal(errorsOf(diagnostics).length, 0, `an editor shows errors in ${rel(file)}:\n${show(diagnostics)}`);
      });
    }
  });
});
