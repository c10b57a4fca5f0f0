import { fraudRecord, isWorthTelling } from '../fraud/fraud-decision.js';
import type { Persister } from '../store/persister.js';
import type { Store } from '../store/store.js';
import type { DecisionBus } from './bus.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** The store's side of every change: bans and their lifting, evidence, trust, one audit entry each. */
export function recordInStore(bus: DecisionBus, store: Store, persister: Persister): void {
  bus.on('committed', (d, until) => {
    persister.write(`ban ${d.target.text}`, () => {
      store.recordBan({ prefix: d.target, since: d.time, until, reason: d.note ?? d.reason, origin: d.origin, step: d.step, evidence: d.evidence ?? null });
      if (d.evidence) store.recordOffense(d.target.text, d.evidence.events, d.evidence.accounts, d.evidence.firstSeen, d.evidence.lastSeen);
      store.audit({ time: d.time, action: 'ban', target: d.target.text, detail: { origin: d.origin, ...(d.via ? { via: d.via } : {}), reason: d.reason, ...(d.note ? { note: d.note } : {}), step: d.step, until: iso(until), evidence: d.evidence ?? null } });
    });
  });
  bus.on('lifted', (prefix, time, origin, via) => {
    persister.write(`unban ${prefix.text}`, () => {
      store.liftBan(prefix, time);
      store.audit({ time, action: 'unban', target: prefix.text, detail: { origin, ...(via ? { via } : {}) } });
    });
  });
  bus.on('alert', (d) => {
    persister.write(`alert ${d.reason}`, () => store.audit({ time: d.time, action: `alert:${d.reason}`, target: d.target?.text ?? '-', detail: { severity: d.severity, text: d.text, evidence: d.evidence ?? null } }));
  });
  bus.on('fraud', (d) => {
    // A blocked endpoint's later calls: one audit row at its 10th, 100th... call, with the count.
    if (!isWorthTelling(d)) return;
    persister.write(`fraud ${d.endpoint}`, () => {
      const record = fraudRecord(d);
      // The first block of an endpoint is its block record (`fraud why` shows the call behind it).
      if (d.verdict === 'block' && !d.hits.some((h) => h.rule === 'blocked')) store.recordFraudBlock({ endpoint: d.endpoint, since: d.time, decision: record });
      store.audit({ time: d.time, action: `fraud:${d.verdict}`, target: d.endpoint, detail: record });
    });
  });
  bus.on('trust', (d) => persister.write(`trust ${d.target.text}`, () => store.setTrust(d.target.text, d.until, d.account)));
}
