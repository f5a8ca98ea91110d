/** Activities asking the farm's front door (Traefik/Varnish) about a site over HTTP. */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { requestWithHost } from '../lib/clients/http-request';

export function createSiteHttpActivities({ front }: Pick<ActivityDeps, 'front'>) {
  return {
    /**
     * The site answers: GET / with its Host through the front returns below 500 (a redirect to HTTPS or to the
     * canonical name counts). A 5xx is a failed check; no answer at all is retried, then fails the same way.
     */
    async checkSiteAnswers(input: { domain: string }): Promise<{ status: number | null; skipped: boolean }> {
      if (!front.siteCheckUrl) return { status: null, skipped: true };
      const r = await requestWithHost(new URL('/', front.siteCheckUrl).toString(), { method: 'GET', host: input.domain, signal: cancellationSignal(), unavailable: 'SiteUnavailable' });
      if (r.status >= 500) throw failure('RestoreVerificationFailed', `${input.domain} answers ${r.status} through ${front.siteCheckUrl}`);
      return { status: r.status, skipped: false };
    },
  };
}
