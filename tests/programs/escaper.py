#!/usr/bin/env python3
"""Leaves its process group the way daemons do, then keeps running.

usage: escaper.py PIDFILE [MARKER...]
Forks; the child calls setsid (a new session and process group) and forks
again; the grandchild ignores SIGTERM, writes its pid to PIDFILE and sleeps;
the child exits at once, so the grandchild is an orphan in a group of its
own. The main process sleeps too.
"""
import os
import signal
import sys
import time

pidfile = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        tmp = pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(os.getpid()))
        os.rename(tmp, pidfile)
        while True:
            time.sleep(3600)
    os._exit(0)
print(f"main {os.getpid()} running", flush=True)
while True:
    time.sleep(3600)
