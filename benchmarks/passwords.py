"""What one password check costs, by hasher: CPU time, wall-clock time and memory (issue 21,
"Load": the choice of password hasher and of the worker model).

    .venv/bin/python benchmarks/passwords.py             # 20 checks of each
    .venv/bin/python benchmarks/passwords.py --checks 50

For each hasher: a password is hashed once, then checked ``--checks`` times (what a sign-in
does); reported are the median wall-clock and CPU time of a check (CPU of the whole process, so
a hasher that runs lanes on several threads shows it), and the process's peak resident memory
after that hasher's checks. Then, for each hasher, a second thread checks passwords while this
one counts a pure-Python loop: the loop's rate beside the rate with no hashing shows whether the
hasher releases the GIL, that is whether a threaded worker can serve other pages while one of its
threads checks a password. Writes benchmarks/results/passwords.json.
"""

import argparse
import json
import resource
import statistics
import subprocess  # (runs this script again, fixed arguments)  # nosec
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks/results/passwords.json"
PASSWORD = "Powerhall-Bench-2026"  # noqa: S105 (a benchmark's throwaway password)  # nosec
HASHERS = {
    "Argon2id, ours (19 MiB, t=2, p=1)": "portal.core.hashers.Argon2idHasher",
    "Argon2id, Django's default (100 MiB, t=2, p=8)": (
        "django.contrib.auth.hashers.Argon2PasswordHasher"
    ),
    "PBKDF2-SHA256, Django's default": "django.contrib.auth.hashers.PBKDF2PasswordHasher",
}


def setup_django() -> None:
    import django
    from django.conf import settings

    settings.configure(PASSWORD_HASHERS=list(HASHERS.values()))
    django.setup()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def checks(hasher, encoded: str, count: int) -> tuple[float, float]:
    """Median wall-clock and CPU milliseconds of one check."""
    walls, cpus = [], []
    for _ in range(count):
        wall, cpu = time.perf_counter(), time.process_time()
        assert hasher.verify(PASSWORD, encoded)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def loop_rate(seconds: float) -> float:
    """Iterations a second of a pure-Python loop, for ``seconds``."""
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(1000):
            count += 1
    return count / seconds


def loop_rate_while_hashing(hasher, encoded: str, seconds: float) -> float:
    done = threading.Event()

    def hash_away():
        while not done.is_set():
            hasher.verify(PASSWORD, encoded)

    thread = threading.Thread(target=hash_away)
    thread.start()
    try:
        return loop_rate(seconds)
    finally:
        done.set()
        thread.join()


def measure(path: str, count: int) -> dict:
    """One hasher, in a process of its own (its peak memory is its own)."""
    setup_django()
    hasher = _load(path)
    encoded = hasher.encode(PASSWORD, hasher.salt())
    wall, cpu = checks(hasher, encoded, count)
    alone = loop_rate(2.0)
    beside = loop_rate_while_hashing(hasher, encoded, 2.0)
    return {
        "check_wall_ms": round(wall, 1),
        "check_cpu_ms": round(cpu, 1),
        "peak_rss_mib": round(peak_mib(), 1),
        "python_thread_beside_it": round(beside / alone, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.checks)))
        return 0
    rows = []
    for label, path in HASHERS.items():
        command = [sys.executable, __file__, "--one", path, "--checks", str(args.checks)]
        measured = subprocess.run(command, check=True, capture_output=True, text=True)  # nosec
        row = {"hasher": label, **json.loads(measured.stdout)}
        rows.append(row)
        print(
            f"{label:48} a check: {row['check_wall_ms']:6.1f} ms wall, "
            f"{row['check_cpu_ms']:6.1f} ms CPU; peak {row['peak_rss_mib']:6.1f} MiB; "
            f"a Python thread beside it keeps {row['python_thread_beside_it']:.0%} of its speed"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"checks": args.checks, "hashers": rows}, indent=2) + "\n")
    return 0


def _load(path: str):
    from django.utils.module_loading import import_string

    return import_string(path)()


if __name__ == "__main__":
    sys.exit(main())
