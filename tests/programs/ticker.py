#!/usr/bin/env python3
"""Prints `tick N` every 50 ms, forever (a service whose log keeps flowing).

usage: ticker.py [MARKER...]
"""
import time

n = 0
while True:
    print(f"tick {n}", flush=True)
    n += 1
    time.sleep(0.05)
