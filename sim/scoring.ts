/** Counts of a binary detector against the truth. */
export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface Scores extends Confusion {
  precision: number;
  recall: number;
  f1: number;
  /** false-positive rate: FP / (FP + TN) */
  fpr: number;
  accuracy: number;
}

export function confusion(truth: readonly boolean[], predicted: readonly boolean[]): Confusion {
  if (truth.length !== predicted.length) throw new Error(`${truth.length} labels but ${predicted.length} predictions`);
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  truth.forEach((t, i) => {
    const p = predicted[i];
    if (t && p) c.tp++;
    else if (!t && p) c.fp++;
    else if (!t && !p) c.tn++;
    else c.fn++;
  });
  return c;
}

export function add(a: Confusion, b: Confusion): Confusion {
  return { tp: a.tp + b.tp, fp: a.fp + b.fp, tn: a.tn + b.tn, fn: a.fn + b.fn };
}

/** Precision, recall, F1, false-positive rate and accuracy; 0 where a ratio has nothing to divide. */
export function score(c: Confusion): Scores {
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  return {
    ...c,
    precision,
    recall,
    f1: ratio(2 * precision * recall, precision + recall),
    fpr: ratio(c.fp, c.fp + c.tn),
    accuracy: ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn),
  };
}
