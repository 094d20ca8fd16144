/**
 * The spam pipeline's canvas:
 *
 * ```
 * chain(
 *   chord(train chunks → spam.count, spam.merge),     // counts → model
 *   chord(test chunks → spam.classify, spam.report),  // model → report
 * )
 * ```
 *
 * The train/test split happens here, at the producer; only email indices
 * go into the run's inputs, never texts.
 */
import { type Canvas, chain, chord } from "@weft/core";
import { deal, selectIndices, split } from "./corpus.ts";
import { classify, count, merge, type Report, report } from "./tasks.ts";

/** Options of {@link buildCanvas}. */
export interface PipelineOptions {
  /** Chunks (count nodes, and classify nodes) per side of the split. Default 8. */
  readonly chunks?: number;
  /** Use only this many emails, sampled evenly across the corpus (see `selectIndices`). Default: all. */
  readonly limit?: number;
}

/** The pipeline's canvas: accepts nothing from upstream, produces the report. */
export type SpamPipeline = Canvas<unknown, Report>;

/** The split the canvas was built on. */
export interface BuiltPipeline {
  readonly canvas: SpamPipeline;
  /** Training email indices. */
  readonly train: ReadonlyArray<number>;
  /** Test email indices. */
  readonly test: ReadonlyArray<number>;
  /** Nodes the run will have. */
  readonly nodes: number;
}

/**
 * Splits the corpus and builds the canvas.
 *
 * @throws Error when the selection leaves the training or the test set empty.
 */
export const buildCanvas = (opts: PipelineOptions = {}): BuiltPipeline => {
  const { train, test } = split(selectIndices(opts.limit));
  if (train.length === 0 || test.length === 0) {
    throw new Error(
      `the split left ${train.length} training and ${test.length} test emails; use a larger limit`,
    );
  }
  const n = opts.chunks ?? 8;
  const trainChunks = deal(train, n);
  const testChunks = deal(test, n);
  const canvas = chain(
    chord(
      trainChunks.map((ids) => count.si({ ids })),
      merge.s(),
    ),
    chord(
      testChunks.map((ids) => classify.s({ ids })),
      report.s(),
    ),
  );
  return {
    canvas,
    train,
    test,
    nodes: trainChunks.length + testChunks.length + 2,
  };
};
