import { banAlert, decisionAlert, fraudAlert, systemAlert } from '../notify/alert.js';
import { isWorthTelling } from '../fraud/fraud-decision.js';
import type { Notifier } from '../notify/notifier.js';
import type { DecisionBus } from './bus.js';

/** The admins hear of every ban (digested in a wave), every alert and every trouble. */
export function sendAlerts(bus: DecisionBus, notifier: Notifier): void {
  bus.on('committed', (d) => notifier.notify(banAlert(d)));
  bus.on('alert', (d) => notifier.notify(decisionAlert(d)));
  bus.on('fraud', (d) => {
    if (isWorthTelling(d)) notifier.notify(fraudAlert(d));
  });
  bus.on('trouble', (t) => notifier.notify(systemAlert(t.kind, t.time, t.text)));
}
