import { execa } from 'execa';
import http from 'node:http';
import { compiled } from './compiled.js';
import { WEB_PORT, type Lab } from './lab.js';

// Scenario 18 (issue 27): the web page of the lab's guard answers as its CLI does, after the
// attacks: logged in with the one-time URL, the bans in force, the status, the top attackers.
// Over the page's unix socket, as a reverse proxy reaches it (the host's port is for people).

type Say = (line: string) => void;

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function get(socketPath: string, url: string, cookie = ''): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: url, headers: { Host: `127.0.0.1:${WEB_PORT}`, ...(cookie ? { Cookie: cookie } : {}) } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function webPageScenario(lab: Lab, say: Say): Promise<string> {
  const login = new URL(await lab.webLoginUrl());
  const answer = await get(lab.webSocket, login.pathname + login.search);
  const cookie = String(answer.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
  if (answer.status !== 303 || !cookie.startsWith('ag_session=')) throw new Error(`the login URL answered ${answer.status}, no session cookie`);
  const json = async (url: string) => {
    const r = await get(lab.webSocket, url, cookie);
    if (r.status !== 200) throw new Error(`${url} answered ${r.status}: ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as Record<string, unknown>;
  };
  const bans = (await json('/api/bans?limit=1')) as { total: number };
  const listed = JSON.parse(String((await execa(process.execPath, [compiled('src/cli.js'), 'list', '--json', '--socket', lab.controlSocket])).stdout)) as unknown[];
  if (bans.total !== listed.length) throw new Error(`the page shows ${bans.total} bans in force, the CLI lists ${listed.length}`);
  const status = (await json('/api/status')) as { ami: { connected: boolean } };
  if (!status.ami.connected) throw new Error('the page says AMI is not connected');
  const activity = (await json('/api/activity?minutes=60')) as { series: Array<{ failures: number; bans: number }>; top: { sources: Array<{ name: string; failures: number }> } };
  const failures = activity.series.reduce((n, p) => n + p.failures, 0);
  const top = activity.top.sources[0];
  if (top === undefined || failures === 0) throw new Error('the page charts no failures after the attacks');
  say(`logged in with the one-time URL; the page lists ${bans.total} bans in force (the CLI: ${listed.length}), charts ${failures} failures this hour; top source ${top.name} (${top.failures})`);
  return `${bans.total} bans in force on the page and in the CLI; ${failures} failures charted; top source ${top.name}`;
}
