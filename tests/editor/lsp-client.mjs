// A minimal LSP client over stdio for yaml-language-server: JSON-RPC 2.0 with
// Content-Length framing, no dependencies beyond node itself.
//
// Not a test file (node --test only runs *.test.mjs and friends).

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** Absolute path of the yaml-language-server entry script (its package.json "bin"). */
export function serverEntry() {
  const pkgJson = require.resolve('yaml-language-server/package.json');
  const pkg = require(pkgJson);
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin['yaml-language-server'];
  return { path: path.join(path.dirname(pkgJson), bin), version: pkg.version };
}

/** A failure that names what the client was waiting for. */
export class LspTimeoutError extends Error {}

export class LspClient {
  /**
   * @param {object} opts
   * @param {object} opts.settings  what workspace/configuration answers, by section
   * @param {number} [opts.requestTimeoutMs]
   */
  constructor({ settings, requestTimeoutMs = 20_000 }) {
    this.settings = settings;
    this.requestTimeoutMs = requestTimeoutMs;
    this.nextId = 1;
    this.pending = new Map(); // id -> { resolve, reject, timer, method }
    this.diagnostics = new Map(); // uri -> array of publishDiagnostics params, in order
    this.diagnosticWaiters = []; // { uri, resolve, timer }
    this.configurationWaiters = [];
    this.configurationRequests = 0;
    this.stderr = '';
    this.exited = null; // { code, signal } once the process is gone
    this.buffer = Buffer.alloc(0);
  }

  start() {
    const entry = serverEntry();
    this.serverVersion = entry.version;
    this.proc = spawn(process.execPath, [entry.path, '--stdio'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc.stdout.on('data', (chunk) => this.#onData(chunk));
    this.proc.stderr.on('data', (chunk) => {
      this.stderr += chunk.toString('utf8');
    });
    // A write to a dead server must fail the test through its own timeout, not crash the runner.
    this.proc.stdin.on('error', () => {});
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = { code, signal };
        const err = new Error(
          `yaml-language-server exited (code ${code}, signal ${signal}); stderr:\n${this.stderr}`,
        );
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(err);
        }
        this.pending.clear();
        for (const w of this.diagnosticWaiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(err);
        }
        for (const w of this.configurationWaiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(err);
        }
        resolve(this.exited);
      });
    });
    return this;
  }

  #send(message) {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }), 'utf8');
    this.proc.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.proc.stdin.write(body);
  }

  #onData(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const header = this.buffer.subarray(0, headerEnd).toString('ascii');
      const m = /Content-Length:\s*(\d+)/i.exec(header);
      if (!m) throw new Error(`LSP frame without Content-Length: ${JSON.stringify(header)}`);
      const length = Number(m[1]);
      const start = headerEnd + 4;
      if (this.buffer.length < start + length) return;
      const body = this.buffer.subarray(start, start + length).toString('utf8');
      this.buffer = this.buffer.subarray(start + length);
      this.#dispatch(JSON.parse(body));
    }
  }

  #dispatch(msg) {
    if (msg.id !== undefined && msg.method === undefined) {
      // A response to one of our requests.
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) {
        p.reject(new Error(`${p.method} failed: ${msg.error.code} ${msg.error.message}`));
      } else {
        p.resolve(msg.result);
      }
      return;
    }
    if (msg.id !== undefined) {
      // A request from the server.
      this.#answerServerRequest(msg);
      return;
    }
    // A notification from the server.
    if (msg.method === 'textDocument/publishDiagnostics') {
      const { uri } = msg.params;
      if (!this.diagnostics.has(uri)) this.diagnostics.set(uri, []);
      this.diagnostics.get(uri).push(msg.params);
      const ready = this.diagnosticWaiters.filter((w) => w.uri === uri);
      this.diagnosticWaiters = this.diagnosticWaiters.filter((w) => w.uri !== uri);
      for (const w of ready) {
        clearTimeout(w.timer);
        w.resolve(msg.params.diagnostics);
      }
    }
  }

  #answerServerRequest(msg) {
    switch (msg.method) {
      case 'workspace/configuration': {
        const result = msg.params.items.map((item) => this.settings[item.section] ?? null);
        this.#send({ id: msg.id, result });
        this.configurationRequests += 1;
        // Resolve after the answer has been written: messages sent after this are read by the
        // server after the answer, and applying settings takes no further I/O with schemaStore off.
        if (msg.params.items.some((item) => item.section === 'yaml')) {
          for (const w of this.configurationWaiters.splice(0)) {
            clearTimeout(w.timer);
            w.resolve();
          }
        }
        return;
      }
      case 'client/registerCapability':
      case 'client/unregisterCapability':
      case 'window/workDoneProgress/create':
        this.#send({ id: msg.id, result: null });
        return;
      default:
        this.#send({
          id: msg.id,
          error: { code: -32601, message: `test client does not handle ${msg.method}` },
        });
    }
  }

  request(method, params, timeoutMs = this.requestTimeoutMs) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.exited) {
        reject(new Error(`yaml-language-server has exited; cannot send ${method}`));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new LspTimeoutError(`no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, method });
      this.#send({ id, method, params });
    });
  }

  notify(method, params) {
    this.#send({ method, params });
  }

  /** Resolves once the server has pulled the `yaml` configuration section and been answered. */
  waitForConfigurationPull(timeoutMs = this.requestTimeoutMs) {
    if (this.configurationRequests > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.configurationWaiters = this.configurationWaiters.filter((w) => w.resolve !== resolve);
        reject(new LspTimeoutError(`server did not ask for workspace/configuration within ${timeoutMs} ms`));
      }, timeoutMs);
      this.configurationWaiters.push({ resolve, reject, timer });
    });
  }

  /**
   * The next textDocument/publishDiagnostics for `uri`. Register before the action that
   * triggers it (e.g. didOpen), so that a fast server cannot be missed.
   */
  nextDiagnostics(uri, timeoutMs = this.requestTimeoutMs) {
    return new Promise((resolve, reject) => {
      const waiter = { uri, resolve, reject, timer: null };
      waiter.timer = setTimeout(() => {
        this.diagnosticWaiters = this.diagnosticWaiters.filter((w) => w !== waiter);
        reject(new LspTimeoutError(`no textDocument/publishDiagnostics for ${uri} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.diagnosticWaiters.push(waiter);
    });
  }

  async initialize(rootUri) {
    const result = await this.request('initialize', {
      processId: process.pid,
      clientInfo: { name: 'recipe-editor-tests' },
      rootUri,
      workspaceFolders: rootUri ? [{ uri: rootUri, name: 'recipe' }] : null,
      capabilities: {
        workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: false } },
        textDocument: {
          synchronization: { dynamicRegistration: false },
          publishDiagnostics: { relatedInformation: true },
          completion: {
            completionItem: { snippetSupport: true, documentationFormat: ['markdown', 'plaintext'] },
          },
          hover: { contentFormat: ['markdown', 'plaintext'] },
        },
      },
      initializationOptions: {},
    });
    this.notify('initialized', {});
    return result;
  }

  /** didOpen, then the diagnostics the server publishes for it. */
  async openAndDiagnose(uri, text, timeoutMs = this.requestTimeoutMs) {
    const diagnostics = this.nextDiagnostics(uri, timeoutMs);
    this.notify('textDocument/didOpen', {
      textDocument: { uri, languageId: 'yaml', version: 1, text },
    });
    return diagnostics;
  }

  close(uri) {
    this.notify('textDocument/didClose', { textDocument: { uri } });
  }

  /** shutdown + exit; kills the process if it does not go within the timeout. */
  async stop(timeoutMs = 10_000) {
    if (this.exited) return this.exited;
    try {
      await this.request('shutdown', null, timeoutMs);
      this.notify('exit', null);
    } catch {
      // fall through to the kill below
    }
    const timer = setTimeout(() => this.kill(), timeoutMs);
    const exited = await this.exitPromise;
    clearTimeout(timer);
    return exited;
  }

  kill() {
    if (!this.exited && this.proc) this.proc.kill('SIGKILL');
  }
}
