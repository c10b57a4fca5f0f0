import { execa } from 'execa';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsRunner } from '../../src/enforce/command-runner.js';
import { NftablesDriver } from '../../src/enforce/nftables-driver.js';
import type { LabAsterisk } from '../../lab/asterisk.js';
import { LabNetwork } from '../../lab/netns.js';
import { GuardProcess } from '../../lab/guard-process.js';
import { amiBruteForce, labAsterisk, writeConfig } from '../support/lab.js';

// The web page in a real browser (Debian's chromium-headless-shell, driven by playwright-core),
// against the real daemon and a real Asterisk in a namespace: log in with the one-time URL, see
// a ban made by a real attack arrive in the live feed and the table, unban it and see it gone
// from the kernel, allow an address; and the refusals: no cookie, a foreign Origin, a foreign Host.

const PBX = '192.0.2.1';
const ATK = '203.0.113.66';
const ATK2 = '203.0.113.67';
const WEB = '127.0.0.1:9472';
const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;
// Screenshots for docs/ when asked (AG_SCREENSHOTS=docs/screenshots), else beside the test's files.
const SHOTS = process.env['AG_SCREENSHOTS'] ?? mkdtempSync(path.join(tmpdir(), 'ag-web-shots-'));
mkdirSync(SHOTS, { recursive: true });

let net: LabNetwork;
let asterisk: LabAsterisk;
let guard: GuardProcess;
let browser: Browser;
let page: Page;
let pbx: string;
const stateDir = mkdtempSync(path.join(tmpdir(), 'ag-web-'));
const socket = path.join(stateDir, 'control.sock');

const cli = async (...args: string[]) => String((await execa(process.execPath, [CLI, ...args, '--socket', socket])).stdout);

async function bannedInKernel(): Promise<string[]> {
  const reader = new NftablesDriver(netnsRunner(pbx), { table: 'asterisk_guard', priority: -310 });
  return (await reader.list(Date.now())).map((b) => b.prefix.text);
}

/** One HTTP request from inside the PBX's namespace, with exactly these headers: its status and body. */
async function raw(method: string, url: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const script = `const r = require('node:http').request(${JSON.stringify(`http://${WEB}${url}`)}, { method: ${JSON.stringify(method)}, headers: ${JSON.stringify(headers)}, setHost: false }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body: b }))); }); r.end(${JSON.stringify(body ?? '')});`;
  const r = await execa('ip', ['netns', 'exec', pbx, process.execPath, '-e', script]);
  return JSON.parse(String(r.stdout)) as { status: number; body: string };
}

describe('the web page, in a real browser', () => {
  beforeAll(async () => {
    net = await LabNetwork.create('agweb', { name: 'pbx', addresses: [PBX] }, [{ name: 'atk', addresses: [ATK, ATK2] }]);
    pbx = net.ns('pbx');
    asterisk = await labAsterisk(pbx);
    const config = writeConfig(`store:
  path: ${stateDir}/state.db
control:
  socket: ${socket}
ami:
  manager_conf: ${asterisk.managerConf}
web:
  enabled: true
  listen: ${WEB}
`);
    guard = GuardProcess.start(pbx, ['run', '--config', config]);
    await guard.waitFor((l) => l.msg === 'AMI connected, receiving security events', 20_000);
    // The browser runs in the PBX's namespace, where the page listens on 127.0.0.1.
    const wrapper = path.join(stateDir, 'chromium-in-namespace');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${pbx} /usr/bin/chromium-headless-shell "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    guard?.kill('SIGTERM');
    await guard?.exit();
    await asterisk?.dispose();
    await net?.destroy();
  });

  it('logs in with the one-time URL, which works once', async () => {
    const url = await cli('web-url');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:9472\/login\?token=[A-Za-z0-9_-]{32}$/);
    await page.goto(url);
    expect(new URL(page.url()).pathname).toBe('/');
    await expect.poll(() => page.locator('.card', { hasText: 'AMI' }).textContent(), { timeout: 10_000 }).toContain('connected');
    const cookie = (await page.context().cookies()).find((c) => c.name === 'ag_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // The same link again: refused, and no session comes of it.
    const again = await raw('GET', new URL(url).pathname + new URL(url).search, { Host: WEB });
    expect(again.status).toBe(401);
  });

  it('shows a ban made by a real attack as it arrives in the live feed, then in the table', async () => {
    await page.waitForSelector('.live-dot.on');
    const result = await amiBruteForce(net.ns('atk'), ATK, PBX, 15, 'admin');
    expect(result.answered).toBeLessThanOrEqual(6);
    // No reload: the live feed brings it, and the table follows.
    await page.locator('ul.live li.ban', { hasText: `ban ${ATK}` }).waitFor({ timeout: 10_000 });
    await page.locator(`tr[data-prefix="${ATK}"]`).waitFor({ timeout: 10_000 });
    expect(await bannedInKernel()).toContain(ATK);
  });

  it('answers Why for the banned address, with the accounts it tried', async () => {
    await page.locator(`tr[data-prefix="${ATK}"] a`).click();
    const panel = page.getByRole('dialog', { name: `why ${ATK}` });
    await expect.poll(() => panel.textContent(), { timeout: 5000 }).toContain('admin');
    await page.screenshot({ path: path.join(SHOTS, 'why-desktop.png') });
    await panel.getByRole('button', { name: 'close' }).click();
  });

  it('unbans with a confirmation: gone from the table and from the kernel, audited as made on the web', async () => {
    await page.locator(`tr[data-prefix="${ATK}"] button.unban`).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByRole('button', { name: 'Unban' }).click();
    await page.locator(`tr[data-prefix="${ATK}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    await expect.poll(bannedInKernel, { timeout: 5000 }).not.toContain(ATK);
    const why = JSON.parse(await cli('why', ATK, '--json')) as { decisions: Array<{ action: string; detail: { via?: string } }> };
    expect(why.decisions.find((d) => d.action === 'unban')?.detail.via).toBe('web');
  });

  it('allows an address from its Why panel (the runtime allow-list)', async () => {
    await page.locator('.tops a', { hasText: ATK }).first().click();
    const panel = page.getByRole('dialog', { name: `why ${ATK}` });
    await panel.getByRole('button', { name: 'Allow this address' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Allow' }).click();
    await expect.poll(async () => (JSON.parse(await cli('why', ATK, '--json')) as { spared: string | null }).spared, { timeout: 5000 }).toMatch(/allow/);
  });

  it('bans by hand with a length, and exports the bans as CSV', async () => {
    await page.fill('.ban-form input[name="prefix"]', '198.51.100.0/24');
    await page.selectOption('.ban-form select', '1d');
    await page.fill('.ban-form input[name="reason"]', 'seen scanning');
    await page.click('.ban-form button[type="submit"]');
    await page.locator('tr[data-prefix="198.51.100.0/24"]').waitFor({ timeout: 10_000 });
    expect(await bannedInKernel()).toContain('198.51.100.0/24');
    const csv = await page.evaluate(() => fetch('/api/bans/export?format=csv').then((r) => r.text()));
    expect(csv.split('\n')[0]).toBe('prefix,since,until,reason,origin,step');
    expect(csv).toMatch(/^198\.51\.100\.0\/24,[^,]+,[^,]+,seen scanning,cli,0$/m);
  });

  it('fits a phone', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    await phone.context().addCookies(await page.context().cookies());
    await phone.goto(`http://${WEB}/`);
    await phone.locator('tr[data-prefix="198.51.100.0/24"]').waitFor({ timeout: 10_000 });
    // Nothing wider than the screen but the table, which scrolls in its own box.
    expect(await phone.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: path.join(SHOTS, 'phone.png'), fullPage: true });
    await page.screenshot({ path: path.join(SHOTS, 'desktop.png'), fullPage: true });
    await phone.locator('tr[data-prefix="198.51.100.0/24"] a').click();
    await expect.poll(() => phone.getByRole('dialog').textContent(), { timeout: 5000 }).toContain('seen scanning');
    await phone.screenshot({ path: path.join(SHOTS, 'why-phone.png') });
    await phone.close();
  });

  it('refuses a request without the session cookie, a change from another origin, and a foreign Host', async () => {
    const session = (await page.context().cookies()).find((c) => c.name === 'ag_session')!.value;
    const cookie = `ag_session=${session}`;
    const json = { 'Content-Type': 'application/json' };
    expect((await raw('GET', '/api/bans', { Host: WEB })).status).toBe(401);
    expect((await raw('GET', '/', { Host: WEB })).status).toBe(401);
    expect((await raw('POST', '/api/ban', { Host: WEB, ...json, Origin: `http://${WEB}` }, '{"prefix":"192.0.2.77"}')).status).toBe(401);
    // Logged in, but the change comes from another site, or says nothing of where it comes from.
    expect((await raw('POST', '/api/ban', { Host: WEB, Cookie: cookie, ...json, Origin: 'http://evil.example' }, '{"prefix":"192.0.2.77"}')).status).toBe(403);
    expect((await raw('POST', '/api/ban', { Host: WEB, Cookie: cookie, ...json }, '{"prefix":"192.0.2.77"}')).status).toBe(403);
    // A form post (no JSON) from the page's own origin.
    expect((await raw('POST', '/api/ban', { Host: WEB, Cookie: cookie, Origin: `http://${WEB}`, 'Content-Type': 'application/x-www-form-urlencoded' }, 'prefix=192.0.2.77')).status).toBe(403);
    // DNS rebinding: a name that resolves to 127.0.0.1 reaches the port with its own Host.
    const rebound = await raw('GET', '/api/bans', { Host: 'evil.example:9472', Cookie: cookie });
    expect(rebound.status).toBe(421);
    expect(rebound.body).toMatch(/web\.hosts/);
    expect(await bannedInKernel()).not.toContain('192.0.2.77');
    // The same session with the page's own headers is fine, and the page sends no CORS header.
    const ok = await raw('GET', '/api/bans?q=198.51.100.0/24', { Host: WEB, Cookie: cookie });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ total: 1 });
  });

  it('answers malformed values with the field and what it takes', async () => {
    const session = (await page.context().cookies()).find((c) => c.name === 'ag_session')!.value;
    const h = { Host: WEB, Cookie: `ag_session=${session}`, 'Content-Type': 'application/json', Origin: `http://${WEB}` };
    const bad = async (method: string, url: string, body?: string) => {
      const r = await raw(method, url, h, body);
      return { status: r.status, message: (JSON.parse(r.body) as { error: { message: string } }).error.message };
    };
    expect(await bad('POST', '/api/ban', '{"prefix":"not an address"}')).toMatchObject({ status: 400, message: expect.stringMatching(/^prefix: /) });
    expect(await bad('POST', '/api/ban', '{"prefix":"192.0.2.9","for":"forever-ish"}')).toMatchObject({ status: 400, message: expect.stringMatching(/^for: .*ban length/) });
    expect(await bad('POST', '/api/unban', '{"prefix":"192.0.2.9"}')).toMatchObject({ status: 404, message: '192.0.2.9 is not banned' });
    expect(await bad('POST', '/api/ban', '[1,2]')).toMatchObject({ status: 400, message: 'the body is a JSON object' });
    expect(await bad('POST', '/api/ban', '{"prefix":')).toMatchObject({ status: 400, message: expect.stringMatching(/^the body is not JSON/) });
    expect(await bad('POST', '/api/ban', '{"cmd":"web-url"}')).toMatchObject({ status: 400, message: 'the body names no cmd: the URL does' });
    expect(await bad('POST', '/api/web-url', '{}')).toMatchObject({ status: 404 });
    expect(await bad('GET', '/api/bans?sort=color')).toMatchObject({ status: 400, message: expect.stringMatching(/^sort="color": one of since, until, prefix, reason/) });
    expect(await bad('GET', '/api/bans?limit=-1')).toMatchObject({ status: 400, message: expect.stringMatching(/^limit=/) });
    expect(await bad('POST', '/api/ban', `{"reason":"${'x'.repeat(70_000)}"}`)).toMatchObject({ status: 413 });
  });
});

