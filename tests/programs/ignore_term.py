#!/usr/bin/env python3
"""Ignores SIGTERM and sleeps until killed.

usage: ignore_term.py [MARKER...]
"""
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring SIGTERM", flush=True)
while True:
    time.sleep(3600)
