"""Runs e2e test modules with their classes and test methods in a shuffled
(or reversed) order, to show that no test depends on another's order.

    cd tests/e2e && FERRY_BIN=... python3 shuffled.py [--seed N | --reverse] MODULE...

Each class stays contiguous (so setUpClass runs once); the classes of a
module and the methods of a class are shuffled with the seed (printed, so a
failing order can be replayed). Exit status 0 only when everything passed.
"""

import argparse
import importlib
import inspect
import random
import sys
import time
import unittest


def ordered_suite(module_names, rng, reverse):
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in module_names:
        module = importlib.import_module(name)
        classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
                   if issubclass(c, unittest.TestCase) and c.__module__ == module.__name__]
        classes = [c for c in classes if loader.getTestCaseNames(c)]
        if reverse:
            classes.reverse()
        else:
            rng.shuffle(classes)
        for cls in classes:
            names = list(loader.getTestCaseNames(cls))
            if reverse:
                names.reverse()
            else:
                rng.shuffle(names)
            for n in names:
                suite.addTest(cls(n))
    return suite


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--reverse", action="store_true")
    ap.add_argument("modules", nargs="+")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    print(f"order: {'reversed' if args.reverse else f'shuffled, seed {seed}'}", file=sys.stderr)
    suite = ordered_suite([m.removesuffix(".py") for m in args.modules], random.Random(seed),
                          args.reverse)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
