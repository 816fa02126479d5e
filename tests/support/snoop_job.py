"""A test double of the pipeline's job that tries to obtain the credentials it runs beside."""

# A job that tries every way to the entrypoint's credentials and writes what it read (base64)
# as its "data", which the pipeline then pushes to S3 for the test to inspect.
SNOOP_JOB = r'''
"""Test double: a job that tries to obtain the pipeline's credentials."""

import argparse
import base64
import ctypes
import json
import os
import stat
import sys
from pathlib import Path

PTRACE_SEIZE = 0x4206  # attaches without stopping the target


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    args, _ = parser.parse_known_args()
    records = []

    def record(source, data=b"", error=None):
        records.append({"source": source, "ok": error is None, "error": error,
                        "data": base64.b64encode(data).decode()})

    def read(path, limit=1 << 20):
        try:
            with open(path, "rb") as handle:
                record(path, handle.read(limit))
        except OSError as error:
            record(path, error=f"{type(error).__name__}: {error.strerror}")

    ppid = os.getppid()
    identity = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
                "pid": os.getpid(), "ppid": ppid, "cwd": os.getcwd()}
    record("identity", json.dumps(identity).encode())
    record("environ:self", "\n".join(f"{k}={v}" for k, v in os.environ.items()).encode())
    pids = ["1", str(ppid)] + sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int)
    for pid in dict.fromkeys(pids):
        for name in ("environ", "cmdline", "status"):
            read(f"/proc/{pid}/{name}")
        for name in ("cwd", "fd"):
            try:
                names = os.listdir(f"/proc/{pid}/{name}")
            except OSError as error:
                record(f"/proc/{pid}/{name}/", error=f"{type(error).__name__}: {error.strerror}")
                continue
            record(f"/proc/{pid}/{name}/", "\n".join(names).encode())
            if name == "cwd":
                for entry in names:
                    if os.path.isfile(f"/proc/{pid}/cwd/{entry}"):
                        read(f"/proc/{pid}/cwd/{entry}")
    libc = ctypes.CDLL(None, use_errno=True)
    for pid in dict.fromkeys((1, ppid)):
        rc = libc.ptrace(ctypes.c_int(PTRACE_SEIZE), ctypes.c_int(pid), ctypes.c_void_p(0), ctypes.c_void_p(0))
        if rc == 0:
            record(f"ptrace:{pid}", b"attached")
        else:
            record(f"ptrace:{pid}", error=os.strerror(ctypes.get_errno()))
    files = 0
    for top in ("/tmp", "/var/tmp", "/dev/shm", "/root", "/home", "/run", "/opt", os.path.expanduser("~"), "."):
        for root, dirs, names in os.walk(top, onerror=lambda e: record(f"walk:{e.filename}", error=e.strerror)):
            dirs[:] = [d for d in dirs if not (root == "/opt" and d == "venv")]
            for name in names:
                path = os.path.join(root, name)
                try:
                    mode = os.lstat(path).st_mode
                except OSError:
                    continue
                if stat.S_ISREG(mode) and files < 5000:
                    files += 1
                    read(path, 1 << 16)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    print(f"snoop: {len(records)} records, {files} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''
