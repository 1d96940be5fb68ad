#!/usr/bin/env python3
"""Forks a grandchild that ignores SIGTERM, then both sleep.

usage: forker.py [MARKER...]
The grandchild keeps the same command line, so tests find both by MARKER.
"""
import os
import signal
import time

pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"grandchild {os.getpid()} running", flush=True)
else:
    print(f"parent {os.getpid()} forked {pid}", flush=True)
while True:
    time.sleep(3600)
