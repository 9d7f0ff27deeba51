"""Fit the safety classifier's stacker (``agent.safety.classifier.STACKER``) on the example bank.

    python -m bench.safety_fit [--folds 5] [--budget 0.07]

Every bank example is read out of fold (by a bank whose regression and neighbours were trained
without its fold), so the stacker learns how far to trust each reading on messages it has not
seen. A second cross-validation over those readings gives the stacker's own out-of-fold scores, on
which each label's threshold is chosen: the highest recall whose false positives on ``none`` stay
within that label's share of the budget; for self-harm and abuse also a lower "attention" threshold
(``SOFT_BUDGET`` of false positives) (a weight-1.0 lexicon hit fires on its own, and its false
positives count against the budget first). It prints the constants to paste into
``agent/safety/classifier.py`` and the figures they give. The held-out set is never read here.
"""

from __future__ import annotations

import argparse
import json
import random

import numpy as np
from scipy.optimize import minimize

from agent.safety import Bank, SafetyClassifier, load_examples
from agent.safety.bank import LABELS
from agent.safety.classifier import stack_features

# each label's share of the false-positive budget on `none`: self-harm gets the most, being the
# one a miss costs most; injection the least, a false one answering an innocent question with a
# deflection (the complaint that started this work)
SHARES = {"self_harm": 0.45, "abuse": 0.3, "minor": 0.3, "injection": 0.08}
# the "attention" band below the threshold, for self-harm and abuse: false positives allowed there
# (each label), since all it does is ask the persona to listen for it (no help lines, no question)
SOFT_BUDGET = 0.10
# `none` kinds that are plain talk, not near the line: outside the budget, so that many easy
# negatives do not loosen the thresholds on the hard ones (the targets are on hard negatives)
EVERYDAY = frozenset({"everyday", "own_life"})


def out_of_fold(bank: Bank, folds: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities, margins and lexicon weights per example and label, each read out of fold."""
    n = len(bank.examples)
    probs, margins = np.zeros((n, len(LABELS))), np.zeros((n, len(LABELS)))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    for f in range(folds):
        rows = np.array(sorted(order[f::folds]))
        trained = bank.without(rows)
        for r in rows:
            p, m, _ = trained.read(bank.vectors[r])
            probs[r] = [p[label] for label in LABELS]
            margins[r] = [m[label] for label in LABELS]
    lexicon_only = SafetyClassifier(None)
    lex = np.array([[lexicon_only.assess(e.text).lexicon[label] for label in LABELS] for e in bank.examples])
    return probs, margins, lex


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Weights then bias, L2 on the weights."""
    d = x.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:d] + theta[d]
        p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
        value = (
            -(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)).sum() + 0.5 / c * theta[:d] @ theta[:d]
        )
        g = p - y
        return float(value), np.concatenate([x.T @ g + theta[:d] / c, [g.sum()]])

    return minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B").x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    # 0.07 gives the shipped constants (the two last refits); 0.06 before them
    parser.add_argument("--budget", type=float, default=0.07, help="false positives on `none`, all labels")
    parser.add_argument(
        "--seeds", type=int, default=3, help="fold assignments pooled (one moves thresholds by a few points)"
    )
    parser.add_argument("--dump", help="write each example's out-of-fold scores here (JSON lines)")
    args = parser.parse_args()

    bank = Bank.build(load_examples(), None, name="e5")
    # each example read out of fold under several fold assignments, the readings stacked as rows:
    # a threshold chosen on one assignment moved recall by 0.01-0.02 from one refit to the next
    runs = [out_of_fold(bank, args.folds, seed=7 + s) for s in range(args.seeds)]
    probs, margins, lex = (np.concatenate([run[i] for run in runs]) for i in range(3))
    examples = bank.examples * args.seeds
    labels = np.array([e.label for e in examples])
    everyday = np.array([e.kind in EVERYDAY for e in examples])
    negative = (labels == "none") & ~everyday  # the budget is on hard negatives, as the targets are
    order = list(range(len(bank.examples)))
    random.Random(11).shuffle(order)
    fold_of = np.empty(len(bank.examples), dtype=int)
    fold_of[order] = np.arange(len(order)) % args.folds
    fold_of = np.tile(fold_of, args.seeds)  # an example's copies stay in one fold of the stacker's own check
    constants = {}
    fired_any = np.zeros(len(labels), dtype=bool)
    all_scores = np.zeros((len(labels), len(LABELS)))
    for i, label in enumerate(LABELS):
        x = np.array([stack_features(probs[r, i], margins[r, i], lex[r, i]) for r in range(len(labels))])
        y = (labels == label).astype(float)
        scores = np.zeros(len(labels))
        for f in range(args.folds):
            test, train = np.flatnonzero(fold_of == f), np.flatnonzero(fold_of != f)
            theta = fit_logistic(x[train], y[train])
            scores[test] = 1 / (1 + np.exp(-(x[test] @ theta[:-1] + theta[-1])))
        budget = args.budget * SHARES[label]
        sure = lex[:, i] >= 1.0  # the lexicon alone is enough (see the classifier)
        candidates = sorted(set(np.round(scores, 4)))
        threshold = next(t for t in candidates if ((scores > t) | sure)[negative].mean() <= budget)
        soft = threshold
        if label in ("self_harm", "abuse"):
            soft = next(t for t in candidates if ((scores > t) | sure)[negative].mean() <= SOFT_BUDGET)
            noticed = (scores > soft) | sure
            print(
                f"{label} attention band: recall {noticed[y == 1].mean():.3f}, "
                f"false positives {noticed[negative].mean():.3f}, threshold {soft:.4f}"
            )
        theta = fit_logistic(x, y)
        constants[label] = (
            *np.round(theta[:-1], 3),
            round(float(theta[-1]), 3),
            float(threshold),
            float(soft),
        )
        fired = (scores > threshold) | sure
        fired_any |= fired
        all_scores[:, i] = scores / max(threshold, 1e-9)
        print(
            f"{label}: recall {fired[y == 1].mean():.3f} (n {int(y.sum())}), "
            f"false positives {fired[negative].mean():.3f}, threshold {threshold:.4f}"
        )
    positives = labels != "none"
    print(
        f"false positives, any label: {fired_any[negative].mean():.3f} "
        f"of {int(negative.sum())} hard negatives"
    )
    plain = (labels == "none") & everyday
    if plain.any():
        print(f"false positives on everyday talk: {fired_any[plain].mean():.3f} of {int(plain.sum())}")
    print(f"positives: {int(positives.sum())}")
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as f:
            for e, row, lx in zip(examples, all_scores, lex, strict=True):
                f.write(
                    json.dumps(
                        {
                            "text": e.text,
                            "label": e.label,
                            "tier": e.tier,
                            "score": row.round(2).tolist(),
                            "lex": lx.tolist(),
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    print("STACKER = {")
    for label, values in constants.items():
        print(f"    {label.upper()}: ({', '.join(str(float(v)) for v in values)}),")
    print("}")


if __name__ == "__main__":
    main()
