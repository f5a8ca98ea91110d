/**
 * A domain as an operator types it (any case, Unicode, a trailing dot) turned into the ASCII form Drover stores
 * and derives names from: IDNA (UTS #46, through Node's `domainToASCII`), lower case, no trailing dot, then the
 * checks of `domainProblem`. Not importable by workflows (Node built-in); they re-check the ASCII form.
 */
import { domainToASCII } from 'node:url';
import { domainProblem } from './site-names';

export type DomainInput = { ok: true; domain: string } | { ok: false; problem: string };

export function normalizeDomain(input: string): DomainInput {
  const raw = input.trim().replace(/\.$/, '');
  if (!raw) return { ok: false, problem: 'empty' };
  // Anything outside letters (any script), digits, '-' and '.' is refused before IDNA, which would map some of it
  // (full-width dots, ß…) or drop it silently.
  if (/[^\p{L}\p{M}\p{N}.-]/u.test(raw)) return { ok: false, problem: `"${raw.slice(0, 60)}" holds characters a domain cannot (only letters, digits, '-' and '.')` };
  const ascii = domainToASCII(raw);
  if (!ascii) return { ok: false, problem: `"${raw.slice(0, 60)}" is not a valid internationalised domain name` };
  const problem = domainProblem(ascii);
  return problem ? { ok: false, problem } : { ok: true, domain: ascii };
}
