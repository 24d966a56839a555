"""Where a study keeps track of its cells under `RUNS/study/`: a record per finished cell (written atomically, last),
a lock per running cell (host, pid, Slurm job, start time, a heartbeat), a record per failed cell with its log, and an
append-only journal of every start and end."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bioprobe import runstore

HEARTBEAT_S = 20.0
"""How often a running cell touches its lock."""
STALE_S = 300.0
"""A lock not touched for this long belongs to a worker that died (on any host)."""


@dataclass(frozen=True)
class Store:
    """The study folder of a runs dir."""

    root: Path

    @classmethod
    def of(cls, runs_dir) -> Store:
        return cls(runstore.runs_dir(runs_dir) / "study")

    def path(self, kind: str, cell_id: str, suffix: str = ".json") -> Path:
        return self.root / kind / f"{cell_id}{suffix}"

    def done(self, cell_id: str) -> dict | None:
        """The record of a finished cell, or None."""
        try:
            record = json.loads(self.path("cells", cell_id).read_text())
        except (OSError, ValueError):
            return None
        return record if record.get("status") == "complete" else None

    def failed(self, cell_id: str) -> dict | None:
        try:
            return json.loads(self.path("failed", cell_id).read_text())
        except (OSError, ValueError):
            return None

    def finish(self, cell_id: str, record: dict) -> None:
        """Write a cell's record (atomically: what makes it finished) and clear any earlier failure."""
        runstore.write_json(self.path("cells", cell_id), {**record, "status": "complete"})
        self.path("failed", cell_id).unlink(missing_ok=True)

    def fail(self, cell_id: str, record: dict) -> None:
        runstore.write_json(self.path("failed", cell_id), record)

    def log(self, cell_id: str) -> Path:
        path = self.path("logs", cell_id, ".log")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def journal(self, event: str, cell_id: str, **extra) -> None:
        """Append one line to `journal.jsonl` (one `write` call: lines of concurrent workers do not interleave)."""
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"time": round(time.time(), 3), "event": event, "cell": cell_id, **owner(), **extra})
        fd = os.open(self.root / "journal.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def events(self) -> list[dict]:
        try:
            return [json.loads(line) for line in (self.root / "journal.jsonl").read_text().splitlines() if line]
        except OSError:
            return []

    # --- locks ---------------------------------------------------------------------------------------------------

    def holder(self, cell_id: str) -> dict | None:
        """Who holds a cell's lock (with `"stale": True` when that worker is gone), or None when nobody does."""
        path = self.path("locks", cell_id, ".lock")
        try:
            age = time.time() - path.stat().st_mtime
            info = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # a lock written by another scheme or cut short: held until it grows old
            return {"stale": age > STALE_S, "age_s": round(age, 1), "unreadable": True}
        dead_here = info.get("host") == socket.gethostname() and not _alive(info.get("pid"))
        return {**info, "stale": dead_here or age > STALE_S, "age_s": round(age, 1)}

    def acquire(self, cell_id: str) -> bool:
        """Take a cell's lock: True when this process now holds it; False when a live worker does. A stale lock
        (its worker died) is broken first; of two workers breaking it at once, one wins.

        The lock appears with its content at once (written to a file of this worker's, then hard-linked to the lock's
        name, which fails when the lock exists: atomic on local disks and NFS alike), so no worker ever reads a lock
        that another has created but not yet written, and takes it for a dead one's.
        """
        path = self.path("locks", cell_id, ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        mine = path.with_name(f"{path.name}.{socket.gethostname()}-{os.getpid()}-{time.time_ns()}")
        mine.write_text(json.dumps({**owner(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
        try:
            for _ in range(3):
                try:
                    os.link(mine, path)
                except FileExistsError:
                    held = self.holder(cell_id)
                    if held is not None and not held["stale"]:
                        return False
                    try:  # rename is atomic: only one breaker succeeds, the other retries the link
                        os.rename(path, path.with_name(f"{path.name}.stale-{os.getpid()}-{time.time_ns()}"))
                    except FileNotFoundError:
                        pass
                    continue
                return True
            return False
        finally:
            mine.unlink(missing_ok=True)

    def release(self, cell_id: str) -> None:
        path = self.path("locks", cell_id, ".lock")
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass

    @contextmanager
    def holding(self, cell_id: str):
        """Keep a held lock fresh (a heartbeat thread touches it) until the block ends, then release it."""
        path = self.path("locks", cell_id, ".lock")
        stop = threading.Event()

        def beat():
            while not stop.wait(HEARTBEAT_S):
                try:
                    os.utime(path)
                except OSError:
                    return

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.release(cell_id)

    # --- the report ----------------------------------------------------------------------------------------------

    def write_report(self, work) -> bool:
        """Run `work` (merge the tables, write the report) as the study's one report writer, so workers finishing at
        once do not all rewrite it: True when this worker ran it, False when another worker holds the report's lock
        and will include this worker's results.

        Each caller first leaves a new token in `report.wanted`; the writer reads the token before it starts and,
        after releasing the lock, starts again when the token changed meanwhile (a worker that finished during its
        run and found the lock taken). So the last report always follows the last worker's results.
        """
        wanted = self.root / "report.wanted"
        runstore.write_text(wanted, f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}")
        wrote = False
        while self.acquire(REPORT_LOCK):
            with self.holding(REPORT_LOCK):
                seen = wanted.read_text()
                work()
                wrote = True
            if wanted.read_text() == seen:
                break
        return wrote


REPORT_LOCK = "_report"
"""The lock name of the report writer (cell ids never start with an underscore)."""


def owner() -> dict:
    """This worker: host, pid and Slurm job (array) id when there is one."""
    job = os.environ.get("SLURM_JOB_ID")
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    return {"host": socket.gethostname(), "pid": os.getpid(), **({"slurm_job": job} if job else {})}


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
