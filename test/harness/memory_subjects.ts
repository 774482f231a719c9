/**
 * NATS subject rules for the in-memory twin: dot-separated tokens, `*` matches one token, `>` one
 * or more trailing tokens; and the KV key and bucket name rules of @nats-io/kv.
 */

/** The tokens of a subject or pattern; throws on an empty subject or an empty token, as NATS refuses them. */
export function subjectTokens(subject: string, opts: { wildcards: boolean }): string[] {
  const tokens = subject.split('.');
  const bad =
    subject.length === 0 ||
    /\s/.test(subject) ||
    tokens.some((t) => t.length === 0) ||
    tokens.some((t, i) => {
      const wild = t === '*' || t === '>';
      if (wild && !opts.wildcards) return true;
      // `>` only as the last token; `*` and `>` only as whole tokens.
      return (t === '>' && i !== tokens.length - 1) || (!wild && /[*>]/.test(t) && opts.wildcards);
    });
  if (bad) throw new Error(`invalid subject: ${JSON.stringify(subject)}`);
  return tokens;
}

/** True when `pattern` (tokens, wildcards allowed) matches `subject` (tokens, literal). */
export function subjectMatches(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== '*' && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}

const KEY_RE = /^[-/=.\w]+$/;
const BUCKET_RE = /^[-\w]+$/;

/** The reason @nats-io/kv refuses a key, or undefined when it is valid. */
export function invalidKeyReason(key: string): string | undefined {
  if (key.startsWith('.') || key.endsWith('.') || !KEY_RE.test(key)) return `invalid key: ${key}`;
  return undefined;
}

/** The reason @nats-io/kv refuses a bucket name, or undefined when it is valid. */
export function invalidBucketReason(name: string): string | undefined {
  return BUCKET_RE.test(name) ? undefined : `invalid bucket name: ${name}`;
}
