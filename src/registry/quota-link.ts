// Linking a blob into a repository within the quotas its namespace falls under: DENIED, naming
// the quota, its limit and what the namespace holds, when the blob would pass one (and nothing
// is linked: the bytes stay unreferenced until garbage collection takes them).
import { quotaChecks } from '../policies/quotas.js';
import { QuotaExceededError } from '../state/store.js';
import type { Registry } from './context.js';
import { OciError } from './errors.js';

export async function linkWithinQuota(
  reg: Registry,
  name: string,
  repositoryId: number,
  digest: string,
  size: number,
): Promise<void> {
  try {
    await reg.state.linkBlob(repositoryId, digest, size, await quotaChecks(reg.state, name));
  } catch (err) {
    if (!(err instanceof QuotaExceededError)) throw err;
    const { quota, used, adding } = err;
    throw new OciError(
      'DENIED',
      `the quota of ${quota.key} is ${quota.bytes} bytes; its repositories hold ${used}, and ${digest} (${adding} bytes) would pass it`,
      { quota: { repositories: quota.key, bytes: quota.bytes }, used, size: adding },
    );
  }
}
