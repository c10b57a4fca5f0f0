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
  readonly subnet: { readonly enabled: boolean; readonly count: number; readonly ipv4Length: number; readonly ipv6Length: number; readonly lookbackMs: number };
  /**
   * Range scores: every failure also counts for its /24 or /48; the range is banned (on its own
   * ladder) when its score reaches `threshold` from at least `minSources` distinct sources.
   */
  readonly range: {
    readonly enabled: boolean;
    readonly threshold: number;
    readonly minSources: number;
    readonly ipv4Length: number;
    readonly ipv6Length: number;
    readonly ladder: readonly (number | null)[];
    /**
     * A flood: this many failures of a range within `floodWindowMs` of its first (from
     * `minSources` sources) ban it before its score reaches the threshold. 0: off.
     */
    readonly floodFailures: number;
    readonly floodWindowMs: number;
  };
  /**
   * This many distinct untrusted sources failing on one account within the window put it under
   * siege: every further untrusted source failing on it is banned at its first failure, until
   * the account has been quiet for `quietMs`.
   */
  readonly accountAttack: { readonly enabled: boolean; readonly sources: number; readonly windowMs: number; readonly quietMs: number };
}
