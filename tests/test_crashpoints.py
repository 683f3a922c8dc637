"""Crash-point test: SIGKILL at every step of the commit path, hundreds of times, under load.

Each crash round forks a child that opens the real state dir (integrity check, row checksums)
and commits keyed batches from 8 concurrent tasks; the state database's fault hook sends SIGKILL to
the child on the n-th time it reaches one step: before the transaction, after the writes but
before COMMIT, after COMMIT but before the acknowledgement, before and after a checkpoint.
Then a recovery child retries every batch not acknowledged, with the same keys, and reports
the totals: they must equal exactly the sum of every batch ever sent (nothing lost, nothing
counted twice). Forking keeps a crash at ~20 ms, so hundreds fit in the suite.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal

import pytest

from txwatch.exporter.config import Config
from txwatch.exporter.parsing import Batch
from txwatch.exporter.statedb import StateDB
from txwatch.exporter.store import Store

STEPS = ("begin", "write", "commit", "checkpoint", "checkpointed")
CRASHES = 220
MINUTE = 1_752_327_900


def _child(state, work: list[tuple[str, int]], step: str | None, nth: int, out: int) -> None:
    hits = [0]

    def fault(at: str) -> None:
        if at == step:
            hits[0] += 1
            if hits[0] >= nth:
                os.kill(os.getpid(), signal.SIGKILL)

    signal.alarm(20)  # a hang shows up as SIGALRM, not as a stuck suite
    store = Store(Config(state_dir=state), lambda: MINUTE + 30.0,
                  StateDB(state, fault=fault, checkpoint_wal_bytes=12 << 10))

    async def run() -> None:
        queue = list(work)

        async def worker() -> None:
            while queue:
                key, count = queue.pop()
                batch = Batch({"approved": count}, {(MINUTE, "approved"): count}, 1, MINUTE)
                await store.commit("transactions", batch, key, f"d-{key}")
                os.write(out, f"A {key}\n".encode())

        await asyncio.gather(*(worker() for _ in range(8)))
        total = store.snapshot().totals["transactions"]["approved"]
        os.write(out, f"T {total}\n".encode())
        await store.close()

    asyncio.run(run())


def _fork(state, work, step, nth) -> tuple[int, list[str]]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 1
        try:
            os.close(read)
            _child(state, work, step, nth, write)
            code = 0
        except BaseException as exc:
            os.write(write, f"E {str(exc)[:400]}\n".encode())
        finally:
            os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    return status, b"".join(chunks).decode().splitlines()


@pytest.mark.slow
def test_sigkill_at_every_commit_step_then_retries_give_exact_totals(tmp_path):
    rng = random.Random(2025)
    issued: dict[str, int] = {}
    acked: set[str] = set()
    crashes = dict.fromkeys(STEPS, 0)
    round_ = 0
    while sum(crashes.values()) < CRASHES:
        round_ += 1
        assert round_ <= 3 * CRASHES, crashes
        for i in range(rng.randrange(8, 40)):
            issued[f"r{round_}-{i}"] = rng.randrange(1, 10)
        step = min(STEPS, key=lambda s: crashes[s])  # the step with the fewest crashes
        pending = [(k, c) for k, c in issued.items() if k not in acked]
        status, lines = _fork(tmp_path, pending, step, rng.randrange(1, 6))
        acked.update(line[2:] for line in lines if line.startswith("A "))
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            crashes[step] += 1
        else:
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, lines[-3:])
        # Restart: retry everything not acknowledged (same keys), then compare totals.
        pending = [(k, c) for k, c in issued.items() if k not in acked]
        status, lines = _fork(tmp_path, pending, None, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, lines[-3:])
        acked.update(line[2:] for line in lines if line.startswith("A "))
        assert acked == set(issued)
        assert lines[-1] == f"T {sum(issued.values())}", (round_, step, lines[-1])
    assert min(crashes.values()) >= 40, crashes
    print(f"{round_} rounds; crashes by step: {crashes}")
