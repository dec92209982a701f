#!/usr/bin/env python3
"""Classify text with the edgesdk model in this folder (Raspberry Pi and other Linux boards).

Needs numpy, tokenizers and one runtime: ai-edge-litert (or tflite-runtime) for .tflite,
executorch for .pte (requirements.txt pins them). Tokenization is the `tokenizers` library
reading the tokenizer.json the model was trained with, so ids are the build's ids; a staged
(early-exit) model runs the same controller rule as converters/controller.py: smallest length
bucket that holds the sentence, then stages until an exit is confident enough.

    python3 classify.py "a gorgeous, witty film"
    python3 classify.py --file sentences.txt --json      # one JSON object per line
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from board_runtime import open_methods

HERE = Path(__file__).resolve().parent


def softmax(logits):
    z = np.exp(logits - logits.max())
    return z / z.sum()


def confidence(probs, kind):
    """Max probability, or 1 - normalised entropy (edgesdk.compress.exit_heads.confidence)."""
    if kind == "maxprob":
        return float(probs.max())
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum()
    return float(1.0 - entropy / np.log(len(probs)))


def padded(ids, length):
    x = np.zeros((1, length), dtype=np.int32)
    mask = np.zeros((1, length), dtype=np.int32)
    x[0, : len(ids)] = ids
    mask[0, : len(ids)] = 1
    return x, mask


class Classifier:
    def __init__(self, folder=HERE, threads=2):
        from tokenizers import Tokenizer

        spec = json.loads((Path(folder) / "package.json").read_text(encoding="utf-8"))
        self.labels, self.seq_len, self.plan = spec["labels"], spec["seq_len"], spec["exits"]
        self.tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.methods = open_methods(Path(folder) / spec["model"], threads)

    def encode(self, text):
        """[CLS] ... [SEP], truncated to the model's length keeping the final [SEP]."""
        ids = self.tokenizer.encode(text).ids
        return ids if len(ids) <= self.seq_len else ids[: self.seq_len - 1] + ids[-1:]

    def logits(self, ids):
        """(logits, exit index, bucket): one graph, or stages until an exit is confident."""
        if self.plan is None:
            return self.methods.run(self.methods.default_method(), *padded(ids, self.seq_len))[0][0], 0, self.seq_len
        buckets, last = self.plan["buckets"], len(self.plan["exit_layers"])
        bucket = next((b for b in buckets if b >= len(ids)), buckets[-1])
        x, mask = padded(ids, bucket)
        for stage in range(last + 1):
            outputs = self.methods.run(f"b{bucket}_s{stage}", x, mask)
            if stage == last:
                return outputs[0][0], stage, bucket
            x, logits = outputs[0], outputs[1][0]
            if (
                confidence(softmax(logits.astype(np.float64)), self.plan["confidence"])
                >= self.plan["thresholds"][stage]
            ):
                return logits, stage, bucket

    def classify(self, text):
        start = time.perf_counter()
        logits, exit_index, bucket = self.logits(self.encode(text))
        probs = softmax(np.asarray(logits, dtype=np.float64))
        label = int(probs.argmax())
        layers = None if self.plan is None else ([*self.plan["exit_layers"], self.plan["num_layers"]][exit_index])
        return {
            "label": self.labels[label],
            "label_index": label,
            "probabilities": [float(p) for p in probs],
            "exit_index": exit_index,
            "layers": layers,
            "bucket": bucket,
            "ms": (time.perf_counter() - start) * 1e3,
        }


def main():
    parser = argparse.ArgumentParser(description="Classify text with the edgesdk model in this folder.")
    parser.add_argument("texts", nargs="*", help="sentences to classify")
    parser.add_argument("--file", type=Path, help="a UTF-8 file with one sentence per line")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    texts = list(args.texts)
    if args.file is not None:
        texts += args.file.read_text(encoding="utf-8").splitlines()
    if not texts:
        parser.error("give sentences as arguments or --file")
    classifier = Classifier(threads=args.threads)
    for text in texts:
        result = classifier.classify(text)
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            p = max(result["probabilities"])
            print(f"{result['label']}\t{p:.3f}\t{result['ms']:.2f} ms\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
