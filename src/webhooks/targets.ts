// Where webhooks may send: the outbound guard (src/lib/outbound.ts) with `webhooks.allowedHosts`.
// One object per store, used when a webhook is saved (API and CLI both go through the store) and
// again by the worker before every attempt, after resolving the host anew.
import {
  checkOutbound,
  parseAllowList,
  type OutboundPolicy,
  type OutboundTarget,
  type ResolveAll,
} from '../lib/outbound.js';

export const ALLOWED_HOSTS_HINT = 'webhooks.allowedHosts opens internal receivers';

export class WebhookTargets {
  private readonly policy: OutboundPolicy;

  /** `allowedHosts`: host names, addresses and CIDRs, as validated by the config schema. */
  constructor(allowedHosts: readonly string[], resolve?: ResolveAll) {
    this.policy = {
      allow: parseAllowList(allowedHosts),
      hint: ALLOWED_HOSTS_HINT,
      ...(resolve ? { resolve } : {}),
    };
  }

  /** Resolves and checks a URL; throws OutboundRefused. */
  check(url: string): Promise<OutboundTarget> {
    return checkOutbound(url, this.policy);
  }
}
