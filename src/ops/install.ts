import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { readAsteriskConf } from '../ami/asterisk-conf.js';
import { PROJECT_ROOT } from '../paths.js';

// Putting asterisk-guard on a PBX: `init` (config and the manager.conf section), and
// `install-service` (the systemd unit and its user). Both say what they did and what is
// left for the admin, and never overwrite an admin's file.

export const SERVICE_USER = 'asterisk-guard';

export interface InitOptions {
  readonly configFile: string;
  readonly managerConf: string;
  /** Answers the question about writing the manager.d file: yes, no, or ask. */
  readonly confirm: (question: string) => Promise<boolean>;
  readonly say: (line: string) => void;
}

/** The manager.conf section for the guard's AMI user, with a fresh random secret. */
export function managerSection(): string {
  const template = readFileSync(path.join(PROJECT_ROOT, 'asterisk-conf', 'manager.d', 'asterisk-guard.conf'), 'utf8');
  return template.replace(/^secret = .*$/m, `secret = ${randomBytes(24).toString('base64url')}`);
}

export async function init(o: InitOptions): Promise<void> {
  if (existsSync(o.configFile)) {
    o.say(`${o.configFile} exists: kept as it is (init never overwrites it)`);
  } else {
    mkdirSync(path.dirname(o.configFile), { recursive: true, mode: 0o750 });
    writeFileSync(o.configFile, readFileSync(path.join(PROJECT_ROOT, 'docs', 'config.sample.yaml')), { mode: 0o600, flag: 'wx' });
    // The mode of a new file is masked by the umask: make it exact.
    chmodSync(o.configFile, 0o600);
    o.say(`wrote ${o.configFile} (mode 0600): every key commented with its default`);
  }
  if (hasUser(o.managerConf)) {
    o.say(`${o.managerConf} already has an [${SERVICE_USER}] section: nothing to add`);
    return;
  }
  const section = managerSection();
  o.say(`\nasterisk-guard logs in to AMI as [${SERVICE_USER}]; Asterisk's manager.conf needs this section:\n`);
  o.say(section);
  const dropIn = path.join(path.dirname(o.managerConf), 'manager.d', `${SERVICE_USER}.conf`);
  if (existsSync(dropIn)) {
    o.say(`${dropIn} exists but manager.conf does not include it: add \`#include manager.d/*.conf\` to ${o.managerConf}`);
    return;
  }
  if (!(await o.confirm(`Write it to ${dropIn}?`))) {
    o.say(`not written. Paste it into ${o.managerConf} (FreePBX: manager_custom.conf), then: asterisk -rx "manager reload"`);
    return;
  }
  mkdirSync(path.dirname(dropIn), { recursive: true });
  writeFileSync(dropIn, section, { mode: 0o640, flag: 'wx' });
  o.say(`wrote ${dropIn}`);
  if (!includesDropIns(o.managerConf)) o.say(`add this line to ${o.managerConf}, so Asterisk reads it:\n  #include manager.d/*.conf`);
  o.say('then: asterisk -rx "manager reload"');
}

function hasUser(managerConf: string): boolean {
  try {
    return readAsteriskConf(managerConf).some((s) => s.name === SERVICE_USER && !s.isTemplate);
  } catch {
    return false;
  }
}

function includesDropIns(managerConf: string): boolean {
  try {
    return /^\s*#(try)?include\s+"?manager\.d\/(\*|asterisk-guard)\.conf"?\s*$/m.test(readFileSync(managerConf, 'utf8'));
  } catch {
    return false;
  }
}

export interface ServiceInstallOptions {
  readonly unitDir: string;
  readonly configFile: string;
  /** The node binary and the CLI script the unit starts. */
  readonly node: string;
  readonly cli: string;
  readonly say: (line: string) => void;
  /** Create the system user and hand it the config (off in tests). */
  readonly createUser: boolean;
}

/** The unit as shipped, with this machine's paths and the groups whose files it reads. */
export function renderUnit(o: { node: string; cli: string; configFile: string; groups: readonly string[] }): string {
  const template = readFileSync(path.join(PROJECT_ROOT, 'systemd', 'asterisk-guard.service'), 'utf8');
  return template
    .replace('@BIN@', `${o.node} --max-semi-space-size=2 --no-allocation-site-pretenuring ${o.cli}`)
    .replace('/etc/asterisk-guard/config.yaml', o.configFile)
    .replace(/^SupplementaryGroups=@GROUPS@\n/m, o.groups.length > 0 ? `SupplementaryGroups=${o.groups.join(' ')}\n` : '');
}

/** Does the config follow the journal (asterisk_log.journal)? Then the service reads it as group systemd-journal. */
function followsJournal(configFile: string): boolean {
  try {
    return loadConfigFile(configFile).asterisk_log?.journal !== undefined;
  } catch {
    return false;
  }
}

export function installService(o: ServiceInstallOptions): void {
  const asteriskGroup = groupExists('asterisk');
  const groups = [...(asteriskGroup ? ['asterisk'] : []), ...(followsJournal(o.configFile) && groupExists('systemd-journal') ? ['systemd-journal'] : [])];
  const unit = path.join(o.unitDir, 'asterisk-guard.service');
  mkdirSync(o.unitDir, { recursive: true });
  writeFileSync(unit, renderUnit({ node: o.node, cli: o.cli, configFile: o.configFile, groups }));
  o.say(`wrote ${unit}`);
  // ProtectHome hides /root and /home from the service: a node from nvm there cannot start.
  for (const file of [o.node, o.cli]) {
    if (/^\/(root|home)\//.test(file)) o.say(`warning: ${file} is under /root or /home, which the unit hides (ProtectHome): install node and asterisk-guard system-wide (e.g. Debian's nodejs, npm install -g)`);
  }
  if (!asteriskGroup) o.say('no group "asterisk" here: make sure user asterisk-guard can read manager.conf (and the logs in asterisk_log.files)');
  if (groups.includes('systemd-journal')) o.say('asterisk_log.journal: the service reads the journal as group systemd-journal');
  if (o.createUser) {
    if (!userExists(SERVICE_USER)) {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/var/lib/asterisk-guard', '--shell', '/usr/sbin/nologin', SERVICE_USER]);
      o.say(`created system user ${SERVICE_USER}`);
    }
    if (existsSync(o.configFile)) {
      const uid = Number(execFileSync('id', ['-u', SERVICE_USER], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', SERVICE_USER], { encoding: 'utf8' }).trim());
      chownSync(o.configFile, uid, gid);
      o.say(`${o.configFile} now belongs to ${SERVICE_USER} (mode kept)`);
    }
  }
  if (existsSync('/run/systemd/system')) {
    execFileSync('systemctl', ['daemon-reload']);
    o.say('systemd reloaded; start it with: systemctl enable --now asterisk-guard');
  } else {
    o.say('systemd is not running here; on the PBX: systemctl daemon-reload && systemctl enable --now asterisk-guard');
  }
}

function groupExists(name: string): boolean {
  return readLines('/etc/group').some((l) => l.startsWith(`${name}:`));
}

function userExists(name: string): boolean {
  return readLines('/etc/passwd').some((l) => l.startsWith(`${name}:`));
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n');
  } catch {
    return [];
  }
}
