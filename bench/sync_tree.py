"""Mirrors a checkout's files into the benchmark's build folder, writing only what differs.

Cargo keys a workspace crate's build by its path and decides what to rebuild by file times: a
fresh clone elsewhere would rebuild the server with fat LTO (~4 minutes) even when not a line
changed. Building every clone in one folder, where a file is rewritten (and so gets a new time)
only when its bytes differ, rebuilds just what a change touched.

usage: sync_tree.py CHECKOUT DEST
The files are git's: tracked ones and untracked ones it does not ignore, as they are in the
working tree. Files in DEST that the checkout no longer has are removed, except under target/
(the build's own output) and any node_modules/.
"""

import os
import shutil
import subprocess
import sys



def checkout_files(checkout):
    listed = subprocess.run(
        ["git", "-C", checkout, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout
    names = {name for name in listed.decode().split("\0") if name}
    # A tracked file deleted in the working tree is not part of it.
    return sorted(n for n in names if os.path.isfile(os.path.join(checkout, n)))


def same(a, b):
    if not os.path.isfile(b) or os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def main(checkout, dest):
    os.makedirs(dest, exist_ok=True)
    files = checkout_files(checkout)
    written = 0
    for name in files:
        source, target = os.path.join(checkout, name), os.path.join(dest, name)
        if same(source, target):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)
        # A new time, so cargo sees the change even if the checkout's file is older.
        os.utime(target)
        written += 1
    wanted = set(files)
    removed = 0
    for folder, dirs, names in os.walk(dest):
        relative = os.path.relpath(folder, dest)
        relative = "" if relative == "." else relative + "/"
        dirs[:] = [
            d
            for d in dirs
            if not (relative == "" and d == "target") and d not in ("node_modules", ".git")
        ]
        for name in names:
            if relative + name not in wanted:
                os.remove(os.path.join(folder, name))
                removed += 1
    print(f"{len(files)} files, {written} written, {removed} removed")


if __name__ == "__main__":
    main(*sys.argv[1:])
