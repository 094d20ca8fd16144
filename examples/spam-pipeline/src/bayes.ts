/**
 * Naive Bayes over binary token features (a "binarized multinomial" model):
 * each email is the set of its distinct tokens; a token's likelihood given a
 * label is its Laplace-smoothed document frequency in that label's training
 * mail. Pure functions, shared by the handlers and the tests.
 */
import type { Confusion, Counts, Model, TokenScore } from "./tasks.ts";

/** Tokens seen in fewer training emails than this are pruned from the model. */
export const MIN_DOCS = 3;

/** Counts the distinct tokens of labelled emails. */
export const countTokens = (
  emails: Iterable<{ readonly spam: boolean; readonly tokens: Iterable<string> }>,
): Counts => {
  const spam = new Map<string, number>();
  const ham = new Map<string, number>();
  let spamDocs = 0;
  let hamDocs = 0;
  for (const email of emails) {
    const into = email.spam ? spam : ham;
    if (email.spam) spamDocs += 1;
    else hamDocs += 1;
    for (const t of email.tokens) into.set(t, (into.get(t) ?? 0) + 1);
  }
  return {
    spamDocs,
    hamDocs,
    spam: Object.fromEntries(spam),
    ham: Object.fromEntries(ham),
  };
};

/** Sums chunks' counts into a model, dropping tokens seen in fewer than `minDocs` emails. */
export const mergeCounts = (chunks: ReadonlyArray<Counts>, minDocs = MIN_DOCS): Model => {
  const totals = new Map<string, [number, number]>();
  let spamDocs = 0;
  let hamDocs = 0;
  for (const c of chunks) {
    spamDocs += c.spamDocs;
    hamDocs += c.hamDocs;
    for (const [t, n] of Object.entries(c.spam)) {
      const e = totals.get(t);
      if (e) e[0] += n;
      else totals.set(t, [n, 0]);
    }
    for (const [t, n] of Object.entries(c.ham)) {
      const e = totals.get(t);
      if (e) e[1] += n;
      else totals.set(t, [0, n]);
    }
  }
  const tokens: Array<[string, readonly [number, number]]> = [];
  let spamTotal = 0;
  let hamTotal = 0;
  for (const [t, [s, h]] of totals) {
    if (s + h < minDocs) continue;
    tokens.push([t, [s, h]]);
    spamTotal += s;
    hamTotal += h;
  }
  tokens.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { spamDocs, hamDocs, spamTotal, hamTotal, tokens: Object.fromEntries(tokens) };
};

/** A model ready to score: per-token log-likelihood ratios and the prior. */
export interface Scorer {
  /** Tokens in the model. */
  readonly vocabulary: number;
  /** `log P(token | spam) - log P(token | ham)`, or `undefined` for a token outside the model. */
  score(token: string): number | undefined;
  /** Whether the model calls a set of tokens spam. */
  isSpam(tokens: Iterable<string>): boolean;
}

/** Prepares a model for scoring (Laplace smoothing, add-one). */
export const scorer = (model: Model): Scorer => {
  const entries = Object.entries(model.tokens);
  const vocabulary = entries.length;
  const spamDenominator = Math.log(model.spamTotal + vocabulary);
  const hamDenominator = Math.log(model.hamTotal + vocabulary);
  const ratios = new Map<string, number>();
  for (const [t, [s, h]] of entries) {
    ratios.set(t, Math.log(s + 1) - spamDenominator - (Math.log(h + 1) - hamDenominator));
  }
  const prior = Math.log(model.spamDocs + 1) - Math.log(model.hamDocs + 1);
  return {
    vocabulary,
    score: (token) => ratios.get(token),
    isSpam: (tokens) => {
      let logOdds = prior;
      for (const t of tokens) logOdds += ratios.get(t) ?? 0;
      return logOdds > 0;
    },
  };
};

/** Adds one prediction to a confusion matrix (spam is the positive class). */
export const tally = (m: Confusion, actualSpam: boolean, predictedSpam: boolean): Confusion => ({
  tp: m.tp + (actualSpam && predictedSpam ? 1 : 0),
  fp: m.fp + (!actualSpam && predictedSpam ? 1 : 0),
  tn: m.tn + (!actualSpam && !predictedSpam ? 1 : 0),
  fn: m.fn + (actualSpam && !predictedSpam ? 1 : 0),
});

/** The `n` highest-scoring distinct tokens, best first; ties broken by token. */
export const topTokens = (scores: Iterable<TokenScore>, n: number): TokenScore[] => {
  const best = new Map<string, number>();
  for (const [t, s] of scores) best.set(t, Math.max(s, best.get(t) ?? -Infinity));
  return [...best]
    .sort(([ta, a], [tb, b]) => b - a || (ta < tb ? -1 : ta > tb ? 1 : 0))
    .slice(0, n);
};

/** Accuracy, precision, recall and F1 of a confusion matrix (0 where undefined). */
export const metrics = (
  m: Confusion,
): { accuracy: number; precision: number; recall: number; f1: number } => {
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const precision = ratio(m.tp, m.tp + m.fp);
  const recall = ratio(m.tp, m.tp + m.fn);
  return {
    accuracy: ratio(m.tp + m.tn, m.tp + m.fp + m.tn + m.fn),
    precision,
    recall,
    f1: ratio(2 * precision * recall, precision + recall),
  };
};
