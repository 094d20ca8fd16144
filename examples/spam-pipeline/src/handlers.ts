/**
 * Handlers of the spam pipeline's tasks, bound where the worker runs. Each
 * worker process loads the corpus once (see `corpus.ts`) and reads emails by
 * index.
 */
import { type BoundHandler, handle, type TaskContext } from "@weft/core";
import { countTokens, mergeCounts, metrics, scorer, tally, topTokens } from "./bayes.ts";
import { emailAt, isSpam, tokenize } from "./corpus.ts";
import { type Confusion, classify, count, merge, report, type TokenScore } from "./tasks.ts";

/** Emails processed between two progress reports. */
const PROGRESS_EVERY = 100;

/** Reports progress every `PROGRESS_EVERY` items and at the end. */
const progressEvery = async (ctx: TaskContext, current: number, total: number) => {
  if (current % PROGRESS_EVERY === 0 || current === total) {
    await ctx.progress({ current, total, message: `${current}/${total} emails` });
  }
};

/** `spam.count`: per-label document frequencies of a chunk of training emails. */
export const countHandler = handle(count, async ({ ids }, ctx) => {
  const emails: Array<{ spam: boolean; tokens: Set<string> }> = [];
  for (const [i, id] of ids.entries()) {
    ctx.signal.throwIfAborted();
    const email = emailAt(id);
    emails.push({ spam: isSpam(email), tokens: tokenize(email.text) });
    await progressEvery(ctx, i + 1, ids.length);
  }
  return countTokens(emails);
});

/** `spam.merge`: the chunks' counts summed into a pruned model. */
export const mergeHandler = handle(merge, (chunks) => mergeCounts(chunks));

/** Spam-indicative tokens kept per classified chunk. */
const CHUNK_TOP = 20;

/** `spam.classify`: a chunk of test emails scored against the model. */
export const classifyHandler = handle(classify, async ({ ids, model }, ctx) => {
  const s = scorer(model);
  let confusion: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  const spamTokens = new Map<string, number>();
  for (const [i, id] of ids.entries()) {
    ctx.signal.throwIfAborted();
    const email = emailAt(id);
    const tokens = tokenize(email.text);
    const actual = isSpam(email);
    confusion = tally(confusion, actual, s.isSpam(tokens));
    if (actual) {
      for (const t of tokens) {
        const score = s.score(t);
        if (score !== undefined) spamTokens.set(t, score);
      }
    }
    await progressEvery(ctx, i + 1, ids.length);
  }
  return {
    ...confusion,
    trainDocs: model.spamDocs + model.hamDocs,
    vocabulary: s.vocabulary,
    tokens: topTokens(spamTokens, CHUNK_TOP),
  };
});

/** Spam-indicative tokens in the report. */
const REPORT_TOP = 15;

/** `spam.report`: the chunks' confusion matrices summed into metrics. */
export const reportHandler = handle(report, (chunks) => {
  const confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  const tokens: TokenScore[] = [];
  for (const c of chunks) {
    confusion.tp += c.tp;
    confusion.fp += c.fp;
    confusion.tn += c.tn;
    confusion.fn += c.fn;
    tokens.push(...c.tokens);
  }
  return {
    ...metrics(confusion),
    confusion,
    test: confusion.tp + confusion.fp + confusion.tn + confusion.fn,
    train: chunks[0]?.trainDocs ?? 0,
    vocabulary: chunks[0]?.vocabulary ?? 0,
    topSpamTokens: topTokens(tokens, REPORT_TOP),
  };
});

/** Every handler of the pipeline, for `startWorker({ handlers })`. */
export const handlers: ReadonlyArray<BoundHandler> = [
  countHandler,
  mergeHandler,
  classifyHandler,
  reportHandler,
];
