export interface PolicyConfig {
  /** Score at which a burst bans (fail2ban's maxretry, for weight-1 failures close together). */
  readonly threshold: number;
  /** Score at which the slow horizon bans: catches one guess a minute, spares a stale phone. */
  readonly slowThreshold: number;
  readonly ipv6PrefixLength: number;
  readonly trust: { readonly durationMs: number; readonly factor: number };
  /** Failures before a SuccessfulAuth that make it a guessed password, not a typo. */
  readonly guessedPasswordFailures: number;
  /** Accounts nobody legitimate uses: one failure against them bans. */
  readonly decoys: readonly string[];
  /** This many banned sources in one /24 (v4) or /48 (v6) within the lookback ban the prefix. */
  readonly subnet: { readonly count: number; readonly ipv4Length: number; readonly ipv6Length: number; readonly lookbackMs: number };
  /** This many distinct sources failing on one account within the window raise an alert. */
  readonly accountAttack: { readonly sources: number; readonly windowMs: number };
}
