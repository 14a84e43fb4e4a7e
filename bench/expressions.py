"""What a JSONata evaluation costs through interlink.expressions, and what its guard adds.

    .venv/bin/python bench/expressions.py [--evaluations 3000]

For each installed engine, a subscription-style filter and a flow-style transform over one
CloudEvent are evaluated with the guard (time and depth limits, the default) and without it:
the best of three runs, in microseconds per evaluation, and the ratio. Reported, never asserted.
"""

from __future__ import annotations

import argparse
import time

from interlink.expressions import Engine, available_engines, compile_expression

EVENT = {
    "type": "order.created",
    "source": "shop",
    "data": {
        "country": "DE",
        "total": 120,
        "lines": [{"qty": 1, "price": 10}, {"qty": 3, "price": 20}],
    },
}
EXPRESSIONS = {
    "filter": 'data.country = "DE" and data.total > 100',
    "transform": '{"id": source & "/" & type, "total": $sum(data.lines.(qty * price)), '
    '"lines": $count(data.lines)}',
}


def per_evaluation(source: str, engine: Engine, evaluations: int, *, guarded: bool) -> float:
    limits = {} if guarded else {"timeout": None, "max_depth": None}
    expression = compile_expression(source, engine=engine, **limits)
    for _ in range(min(200, evaluations)):
        expression.evaluate(EVENT)
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(evaluations):
            expression.evaluate(EVENT)
        runs.append((time.perf_counter() - start) / evaluations * 1e6)
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=3000)
    args = parser.parse_args()
    for engine in available_engines():
        for name, source in EXPRESSIONS.items():
            guarded = per_evaluation(source, engine, args.evaluations, guarded=True)
            bare = per_evaluation(source, engine, args.evaluations, guarded=False)
            print(
                f"{engine:15} {name:10} guarded {guarded:8.1f} us  unguarded {bare:8.1f} us  "
                f"guard costs x{guarded / bare:.2f}"
            )


if __name__ == "__main__":
    main()
