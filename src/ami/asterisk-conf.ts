import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

// Reader for Asterisk's config-file dialect (main/config.c), enough for manager.conf:
// [sections] with template options, `key = value` / `key => value`, `;` comments, `;-- --;`
// block comments, and #include / #tryinclude with a `*` glob in the file name.

export interface ConfEntry {
  readonly key: string;
  readonly value: string;
  readonly file: string;
  readonly line: number;
}

export interface ConfSection {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly isTemplate: boolean;
  readonly entries: ConfEntry[];
}

export class ConfParseError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
  ) {
    super(`${file}:${line}: ${message}`);
  }
}

const MAX_INCLUDE_DEPTH = 10;

export function readAsteriskConf(file: string): ConfSection[] {
  const sections: ConfSection[] = [];
  const state = { current: undefined as ConfSection | undefined, inBlockComment: false };
  readInto(file, path.dirname(file), sections, state, 0, true);
  return sections;
}

interface ReadState {
  current: ConfSection | undefined;
  inBlockComment: boolean;
}

function readInto(file: string, baseDir: string, sections: ConfSection[], state: ReadState, depth: number, required: boolean): void {
  if (depth > MAX_INCLUDE_DEPTH) throw new ConfParseError(`#include nested deeper than ${MAX_INCLUDE_DEPTH}`, file, 0);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (!required) return;
    throw new ConfParseError(`cannot read: ${(e as Error).message}`, file, 0);
  }
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = stripComments(lines[i]!, state).trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#(include|tryinclude|exec)\s+(.+)$/.exec(line);
      if (!m) throw new ConfParseError(`unknown directive ${JSON.stringify(line)}`, file, lineNo);
      if (m[1] === 'exec') continue;
      const target = m[2]!.trim().replace(/^["<](.*)[">]$/, '$1');
      for (const f of expandInclude(target, baseDir, file, lineNo, m[1] === 'include')) {
        readInto(f, baseDir, sections, state, depth + 1, m[1] === 'include');
      }
      continue;
    }
    if (line.startsWith('[')) {
      const m = /^\[([^\]]+)\](?:\(([^)]*)\))?$/.exec(line);
      if (!m) throw new ConfParseError(`bad section header ${JSON.stringify(line)}`, file, lineNo);
      const options = (m[2] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const existing = options.includes('+') ? sections.find((s) => s.name === m[1]!.trim()) : undefined;
      if (existing) {
        state.current = existing;
        continue;
      }
      const section: ConfSection = { name: m[1]!.trim(), file, line: lineNo, isTemplate: options.includes('!'), entries: [] };
      for (const parent of options.filter((o) => o !== '!' && o !== '+')) {
        const from = [...sections].reverse().find((s) => s.name === parent);
        if (!from) throw new ConfParseError(`section [${section.name}] inherits unknown template ${parent}`, file, lineNo);
        section.entries.push(...from.entries);
      }
      sections.push(section);
      state.current = section;
      continue;
    }
    const m = /^([^=]+?)\s*=>?\s*(.*)$/.exec(line);
    if (!m) throw new ConfParseError(`expected key = value, got ${JSON.stringify(line)}`, file, lineNo);
    if (!state.current) throw new ConfParseError(`${m[1]} = ... before any [section]`, file, lineNo);
    state.current.entries.push({ key: m[1]!.toLowerCase(), value: m[2]!.replace(/\\;/g, ';'), file, line: lineNo });
  }
}

function stripComments(line: string, state: ReadState): string {
  let out = '';
  let i = 0;
  while (i < line.length) {
    if (state.inBlockComment) {
      const end = line.indexOf('--;', i);
      if (end === -1) return out;
      state.inBlockComment = false;
      i = end + 3;
      continue;
    }
    if (line.startsWith(';--', i)) {
      state.inBlockComment = true;
      i += 3;
      continue;
    }
    const c = line[i]!;
    if (c === '\\' && line[i + 1] === ';') {
      out += '\\;';
      i += 2;
      continue;
    }
    if (c === ';') return out;
    out += c;
    i++;
  }
  return out;
}

function expandInclude(target: string, baseDir: string, file: string, line: number, required: boolean): string[] {
  const full = path.isAbsolute(target) ? target : path.join(baseDir, target);
  const name = path.basename(full);
  if (!name.includes('*')) return [full];
  const dir = path.dirname(full);
  const pattern = new RegExp(`^${name.split('*').map(escapeRegExp).join('.*')}$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if (!required) return [];
    throw new ConfParseError(`#include ${target}: ${(e as Error).message}`, file, line);
  }
  return names.filter((n) => pattern.test(n)).sort().map((n) => path.join(dir, n));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/** Asterisk's ast_true(): the words its config files accept for yes. */
export function isTrue(value: string): boolean {
  return /^(yes|true|y|t|1|on)$/i.test(value);
}
