import { readFileSync, statSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { GuardError } from '../errors.js';
import { configSchema, finish, type Config } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/asterisk-guard/config.yaml';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Why the config file is too open, or undefined: it may hold secrets (ami.secret, the SMTP
 * password, a webhook's token), so group and others must not read it.
 */
export function configTooOpen(file: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o044) === 0) return undefined;
  const who = [mode & 0o040 ? 'its group' : '', mode & 0o004 ? 'every user' : ''].filter(Boolean).join(' and ');
  return `${file} is readable by ${who} (mode 0${mode.toString(8)}) and may hold secrets (ami.secret, the SMTP password, webhook tokens): chmod 600 ${file}`;
}

/**
 * Reads, validates and freezes the config. Every problem names the key and its line; nothing
 * unknown is accepted (a typo must not silently fall back to a default).
 */
export function loadConfigFile(file: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new GuardError('AG_ERR_CONFIG_READ', `cannot read config ${file}: ${(e as Error).message}. Write one with the sample in the README, or pass --config FILE.`);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: Env = process.env): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    throw new GuardError('AG_ERR_CONFIG_YAML', `${file}:${pos.line}: ${e.message.split('\n')[0]}`);
  }
  const lineOf = (path: readonly PropertyKey[]): number => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as Node | undefined;
      if (node?.range) return lines.linePos(node.range[0]).line;
      const key = keyNode(doc, path.slice(0, n));
      if (key?.range) return lines.linePos(key.range[0]).line;
    }
    return 1;
  };
  substituteEnv(doc, doc.contents as Node | null, [], env, (path, name) => {
    throw new GuardError(
      'AG_ERR_CONFIG_ENV',
      `${file}:${lineOf(path)}: ${path.join('.')} uses \${${name}}, but the environment has no ${name}. Set it (systemd: Environment= or EnvironmentFile=).`,
    );
  });
  let data: unknown;
  try {
    // The yaml library refuses a document whose aliases expand past a bound (a "billion laughs").
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    throw new GuardError('AG_ERR_CONFIG_YAML', `${file}: ${(e as Error).message}: the config needs no more than a few anchors (&) and aliases (*); write the values out`);
  }
  const result = configSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    let path = issue.path as PropertyKey[];
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      path = [...path, issue.keys[0]!];
      message = `unknown key ${JSON.stringify(issue.keys[0])} (check its spelling and indentation; see the config reference in the README)`;
    }
    const shown = path.length > 0 ? path.join('.') : '(top level)';
    throw new GuardError('AG_ERR_CONFIG_INVALID', `${file}:${lineOf(path)}: ${shown}: ${message}`);
  }
  return finish(result.data);
}

function keyNode(doc: Document, path: readonly PropertyKey[]): Node | undefined {
  if (path.length === 0) return undefined;
  const parent = doc.getIn(path.slice(0, -1) as unknown[], true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
  return pair?.key as Node | undefined;
}

/** `${NAME}` in a string value is read from the environment, so secrets stay out of the file. */
function substituteEnv(doc: Document, node: Node | null, path: PropertyKey[], env: Env, missing: (path: PropertyKey[], name: string) => never): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? (pair.key.value as PropertyKey) : '?';
      substituteEnv(doc, pair.value as Node | null, [...path, key], env, missing);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => substituteEnv(doc, item as Node, [...path, i], env, missing));
  } else if (isScalar(node) && typeof node.value === 'string') {
    node.value = node.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const value = env[name];
      if (value === undefined) return missing(path, name);
      return value;
    });
  }
}
